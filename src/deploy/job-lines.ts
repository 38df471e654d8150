/** Turns a job's output chunks into whole lines (a last partial line comes out at flush). */
export function lineSplitter(onLine: (line: string) => void): { write(chunk: Uint8Array): void; flush(): void } {
  const decoder = new TextDecoder();
  let held = "";
  return {
    write(chunk) {
      const parts = (held + decoder.decode(chunk, { stream: true })).split(/\r?\n/);
      held = parts.pop() ?? "";
      for (const part of parts) onLine(part);
    },
    flush() {
      held += decoder.decode();
      if (held !== "") onLine(held);
      held = "";
    },
  };
}

/** A Procfile-style command line, run by bash in the release's container as a process type's command is (never on the host). */
export function shellCommand(command: string): string[] {
  return ["/bin/bash", "-c", command];
}
