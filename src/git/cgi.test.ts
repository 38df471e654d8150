import { expect, test } from "bun:test";
import { readCgiResponse } from "./cgi.ts";

function streamOf(...parts: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const part of parts) controller.enqueue(encoder.encode(part));
      controller.close();
    },
  });
}

test("headers split across chunks, status line, body streamed after", async () => {
  const res = await readCgiResponse(streamOf("Status: 404 Not", " Found\r\nContent-Type: text/plain\r", "\n\r\nno such", " repo"));
  expect(res.status).toBe(404);
  expect(res.headers.get("content-type")).toBe("text/plain");
  expect(await new Response(res.body).text()).toBe("no such repo");
});

test("LF-only headers default to 200", async () => {
  const res = await readCgiResponse(streamOf("Content-Type: application/x-git-upload-pack-result\n\n0000"));
  expect(res.status).toBe(200);
  expect(await new Response(res.body).text()).toBe("0000");
});

test("a program that dies before its headers is an error", async () => {
  await expect(readCgiResponse(streamOf("Content-Type: x\r\n"))).rejects.toThrow("before its headers");
});
