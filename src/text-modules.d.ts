// Files Bun embeds as text: `import x from "./boot.sh" with { type: "text" }` (the runner's boot script, the builder's driver and buildpack).
declare module "*.sh" {
  const text: string;
  export default text;
}
declare module "*/bin/detect" {
  const text: string;
  export default text;
}
declare module "*/bin/compile" {
  const text: string;
  export default text;
}
declare module "*/bin/release" {
  const text: string;
  export default text;
}
declare module "*.escript" {
  const text: string;
  export default text;
}
declare module "*.erl" {
  const text: string;
  export default text;
}
