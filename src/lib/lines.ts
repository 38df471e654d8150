/** Calls `onLine` for each line of a byte stream, as it arrives. */
export async function forEachLine(
  stream: ReadableStream<Uint8Array> | undefined,
  onLine: (line: string) => void,
): Promise<void> {
  if (!stream) return;
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    rest += decoder.decode(chunk, { stream: true });
    const parts = rest.split(/\r?\n|\r/);
    rest = parts.pop() ?? "";
    for (const part of parts) onLine(part);
  }
  rest += decoder.decode();
  if (rest !== "") onLine(rest);
}
