// The pre-receive hook for tests, until `beamstalk hook pre-receive` is wired into main.ts.
import { runPreReceiveHook } from "../../src/git/hook.ts";

process.exitCode = await runPreReceiveHook();
