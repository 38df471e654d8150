import { Duplex, PassThrough } from "node:stream";
import * as k8s from "@kubernetes/client-node";

/**
 * A TCP connection to a pod's port through the API server (the kubelet's
 * port-forward), as one Duplex: what is written goes to the port, what the
 * port sends is read. No NetworkPolicy applies (the kubelet dials the pod's
 * loopback), and the controller needs no route to the pod network.
 */
export async function podConnection(config: k8s.KubeConfig, pod: { namespace: string; name: string }, port: number): Promise<Duplex> {
  const toPod = new PassThrough();
  const fromPod = new PassThrough();
  const errors = new PassThrough();
  const opened = await new k8s.PortForward(config, true).portForward(pod.namespace, pod.name, [port], fromPod, errors, toPod);
  const ws = typeof opened === "function" ? opened() : opened;
  if (!ws) throw new Error(`port-forward to ${pod.namespace}/${pod.name}:${port} did not open`);
  let failure = "";
  errors.on("data", (chunk: Buffer) => (failure += chunk.toString("utf8")));
  const connection = new Duplex({
    read() {
      fromPod.resume();
    },
    write(chunk, _encoding, done) {
      toPod.write(chunk, done);
    },
    final(done) {
      toPod.end();
      done();
    },
    destroy(err, done) {
      ws.close();
      done(err);
    },
  });
  fromPod.on("data", (chunk: Buffer) => {
    if (!connection.push(chunk)) fromPod.pause();
  });
  fromPod.on("end", () => connection.push(null));
  ws.on("close", () => {
    if (failure) connection.destroy(new Error(failure.trim().slice(0, 300)));
    else connection.push(null);
  });
  ws.on("error", (err: Error) => connection.destroy(err));
  return connection;
}
