import { defineCommand } from "citty";

/** The unit install.sh writes; kept in the binary so `curl | sh` installs need no other file. */
export function systemdUnit(options: { binary: string; dataDir: string }): string {
  return `[Unit]
Description=Beamstalk: a platform for Elixir apps
After=network-online.target docker.service
Wants=network-online.target
Requires=docker.service

[Service]
# The daemon says READY itself; after \`systemctl reload\` (beamstalk upgrade) its successor, a child
# in this unit's cgroup, says MAINPID= and READY, so systemd follows the new process.
Type=notify
NotifyAccess=all
ExecStart=${options.binary} server --data-dir ${options.dataDir}
ExecReload=${options.binary} upgrade --socket ${options.dataDir}/beamstalk.sock
TimeoutStartSec=120
Restart=on-failure
RestartSec=2
KillSignal=SIGTERM
TimeoutStopSec=60
LimitNOFILE=1048576
# Apps keep running in Docker when the daemon restarts.
KillMode=process

[Install]
WantedBy=multi-user.target
`;
}

export const systemdUnitCommand = defineCommand({
  meta: { name: "systemd-unit", description: "Print the systemd unit that runs this binary as `beamstalk server`" },
  args: {
    "data-dir": { type: "string", description: "data directory", default: "/var/lib/beamstalk" },
    binary: { type: "string", description: "path of the installed binary", default: "/usr/local/bin/beamstalk" },
  },
  run({ args }) {
    process.stdout.write(systemdUnit({ binary: args.binary, dataDir: args["data-dir"] }));
  },
});
