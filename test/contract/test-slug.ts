import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exec } from "../../src/lib/exec.ts";
import type { Replica } from "../../src/runner/types.ts";

/**
 * A tiny app that needs no build: perl (perl-base is in the run image) serving
 * HTTP on $PORT. GET /env/NAME answers the variable, /probe/HOST/PORT answers
 * ok or fail after a TCP connect, /slow/S answers after S seconds, /uid the
 * user id; SIGTERM lets the request in flight finish, then exits 0.
 */
export const SERVER_PL = String.raw`use strict;
use warnings;
use IO::Socket::INET;
$| = 1;
my $port = $ENV{PORT} or die "PORT is not set\n";
my $term = 0;
$SIG{TERM} = sub { $term = 1; print "got SIGTERM\n"; };
my $server = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => $port, Listen => 32, ReuseAddr => 1)
  or die "cannot listen on $port: $!\n";
print "listening on $port\n";
while (!$term) {
  my $client = $server->accept or next;
  handle($client);
  close $client;
}
print "exiting after SIGTERM\n";
exit 0;

sub respond {
  my ($c, $status, $body) = @_;
  print $c "HTTP/1.1 $status X\r\nContent-Type: text/plain\r\nContent-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
}

sub handle {
  my ($c) = @_;
  my $request = <$c>;
  return unless defined $request;
  while (my $line = <$c>) { last if $line =~ /^\r?\n$/; }
  my ($path) = $request =~ m{^GET (\S+)} or return respond($c, 400, "bad request");
  if ($path =~ m{^/env/(\w+)$}) { return respond($c, defined $ENV{$1} ? 200 : 404, $ENV{$1} // "unset"); }
  if ($path =~ m{^/probe/([\w.-]+)/(\d+)$}) {
    my $s = IO::Socket::INET->new(PeerAddr => $1, PeerPort => $2, Proto => "tcp", Timeout => 2);
    return respond($c, 200, $s ? "ok" : "fail");
  }
  if ($path =~ m{^/slow/(\d+)$}) {
    my $end = time + $1;
    sleep 1 while time < $end;
    return respond($c, 200, "slow done");
  }
  if ($path eq "/uid") { return respond($c, 200, "$<"); }
  if ($path eq "/crash") { respond($c, 200, "crashing"); close $c; exit 3; }
  print "request $path\n";
  respond($c, 200, "hello from $ENV{DYNO}");
}
`;

export const SLUG_COMMAND = "perl server.pl";

export interface SlugFiles {
  files: Record<string, string>;
  /** Symlinks to create: path → target. */
  links?: Record<string, string>;
  /** Extra tar arguments, e.g. ["--transform", "s,^./x,../x,"] to forge bad names. */
  tarArgs?: string[];
}

/** The perl app as a slug (tar.gz of /app's contents), written under dir. */
export function testAppFiles(): SlugFiles {
  return {
    files: {
      "server.pl": SERVER_PL,
      "Procfile": `web: ${SLUG_COMMAND}\n`,
      ".profile.d/test.sh": 'export PROFILE_D_RAN="yes, in $PWD"\n',
    },
    links: { "bin/server": "../server.pl" },
  };
}

export async function makeSlug(dir: string, name: string, slug: SlugFiles): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), "beamstalk-slug-"));
  try {
    for (const [path, text] of Object.entries(slug.files)) {
      mkdirSync(join(root, path, ".."), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    for (const [path, target] of Object.entries(slug.links ?? {})) {
      mkdirSync(join(root, path, ".."), { recursive: true });
      symlinkSync(target, join(root, path));
    }
    const out = join(dir, name);
    const result = await exec(["tar", "-czf", out, ...(slug.tarArgs ?? []), "-C", root, "."]);
    if (result.code !== 0) throw new Error(`tar failed: ${result.stderr}`);
    return out;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** GET from a replica at its address (the router's view), retrying while it binds its port. */
export async function get(replica: Pick<Replica, "address">, path: string): Promise<string> {
  const url = `http://${replica.address.host}:${replica.address.port}${path}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      return await res.text();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await Bun.sleep(25);
    }
  }
}

/**
 * A probe from one replica that should answer "ok", asked again for up to
 * `boundMs`: service discovery is eventually consistent (Swarm's DNS learns a
 * new task's name by gossip, so a name given a moment ago may not resolve yet).
 * A probe that must fail is asked once, with get().
 */
export async function reaches(replica: Pick<Replica, "address">, path: string, boundMs = 5000): Promise<string> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const answer = await get(replica, path);
    if (answer === "ok" || Date.now() > deadline) return answer;
    await Bun.sleep(250);
  }
}
