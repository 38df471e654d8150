/** Fires once when touch() has not been called for `ms`; stop() disarms it for good. */
export interface IdleTimer {
  touch(): void;
  stop(): void;
}

export function createIdleTimer(ms: number, onIdle: () => void): IdleTimer {
  let stopped = false;
  let handle: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    if (handle) clearTimeout(handle);
    handle = setTimeout(() => {
      stopped = true;
      onIdle();
    }, ms);
  };
  arm();
  return {
    touch() {
      if (!stopped) arm();
    },
    stop() {
      stopped = true;
      if (handle) clearTimeout(handle);
    },
  };
}
