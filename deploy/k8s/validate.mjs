// Validates rendered Kubernetes manifests offline against the Kubernetes API schemas.
//
//   kubectl kustomize deploy/k8s/overlays/dev | node deploy/k8s/validate.mjs
//
// Two checks per object, both from npm packages generated from the Kubernetes OpenAPI (no cluster needed):
//  - kubernetes-models: types, required fields, enums and formats (its validators ignore unknown fields);
//  - @kubernetes/client-node's model type maps: every field name must exist, so a typo such as `replica:` or
//    `livenessProbes:` fails instead of being silently dropped by the API server.
// Modules come from PRUNEFUSE_K8S_MODULES (default .tools/k8s-validate/node_modules, installed by
// scripts/prerequisites.sh). Exit code 0 when every object is valid, 1 otherwise; problems go to stderr.
import { readFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const modules = process.env.PRUNEFUSE_K8S_MODULES ?? join(root, ".tools/k8s-validate/node_modules");
// CommonJS builds (kubernetes-models 4, client-node 0.22) so Debian 12's Node.js 18 runs them.
const load = createRequire(join(modules, "noop.js"));

let yaml, k8s;
try {
  yaml = load("js-yaml");
  k8s = load("@kubernetes/client-node");
} catch (e) {
  console.error(`validate: cannot load the schema packages from ${modules} (run scripts/prerequisites.sh's ensure_k8s_tools): ${e.message}`);
  process.exit(2);
}

const files = process.argv.slice(2);
const sources = files.length > 0
  ? files.map((f) => ({ name: f, text: readFileSync(f, "utf8") }))
  : [{ name: "stdin", text: readFileSync(0, "utf8") }];

const problems = [];
let objects = 0;
const siloDeployments = [];
const siloPolicies = [];
const workloads = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"]);

// Our own rules beyond the schemas: no container may run as root, Secret volumes are mounted read-only, and the
// silo pods are covered by a NetworkPolicy (checked once all objects are read).
function policy(doc, report) {
  const selects = doc.spec?.podSelector?.matchLabels?.["app.kubernetes.io/name"];
  if (doc.kind === "NetworkPolicy" && selects === "prunefuse-silo") siloPolicies.push(doc);
  if (!workloads.has(doc.kind)) return;
  const spec = doc.kind === "Pod" ? doc.spec
    : doc.kind === "CronJob" ? doc.spec?.jobTemplate?.spec?.template?.spec
    : doc.spec?.template?.spec;
  if (!spec) return;
  if (doc.spec?.template?.metadata?.labels?.["app.kubernetes.io/name"] === "prunefuse-silo") siloDeployments.push(doc);
  const pod = spec.securityContext ?? {};
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    const own = c.securityContext ?? {};
    if ((own.runAsNonRoot ?? pod.runAsNonRoot) !== true) {
      report(`container ${c.name} may run as root: set securityContext.runAsNonRoot: true`);
    }
    if ((own.runAsUser ?? pod.runAsUser) === 0) report(`container ${c.name} runs as root (runAsUser: 0)`);
    for (const m of c.volumeMounts ?? []) {
      const volume = (spec.volumes ?? []).find((v) => v.name === m.name);
      if (volume?.secret && m.readOnly !== true) {
        report(`container ${c.name} mounts Secret volume ${m.name} writable: set readOnly: true`);
      }
    }
  }
}

// `apps/v1` -> ["apps", "v1"]; `v1` -> ["", "v1"] (the core group lives under v1/ in kubernetes-models).
function groupVersion(apiVersion) {
  const parts = String(apiVersion).split("/");
  return parts.length === 1 ? ["", parts[0]] : [parts[0], parts[1]];
}

// Walks a value along client-node's type map and reports every field the API does not define.
function unknownFields(value, type, path, report) {
  if (value === null || value === undefined || typeof type !== "string") return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, array[1], `${path}[${i}]`, report));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === "object") for (const [k, v] of Object.entries(value)) unknownFields(v, map[1], `${path}.${k}`, report);
    return;
  }
  const model = k8s[type];
  if (!model || typeof model.getAttributeTypeMap !== "function" || typeof value !== "object" || Array.isArray(value)) return;
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!fields.has(k)) report(`${path}: unknown field '${k}'`);
    else unknownFields(v, fields.get(k), `${path}.${k}`, report);
  }
}

for (const source of sources) {
  let docs;
  try {
    docs = yaml.loadAll(source.text).filter((d) => d !== null && d !== undefined);
  } catch (e) {
    problems.push(`${source.name}: not YAML: ${e.message}`);
    continue;
  }
  for (const doc of docs) {
    const where = `${source.name}: ${doc.kind ?? "?"}/${doc.metadata?.name ?? "?"}`;
    const report = (message) => problems.push(`${where}: ${message}`);
    if (typeof doc !== "object" || !doc.apiVersion || !doc.kind) {
      report("not a Kubernetes object (apiVersion and kind are required)");
      continue;
    }
    objects++;
    const [group, version] = groupVersion(doc.apiVersion);
    const modelPath = ["kubernetes-models", group === "" ? version : `${group}/${version}`, doc.kind].join("/");
    let Model;
    try {
      Model = load(modelPath)[doc.kind];
      if (typeof Model !== "function") throw new Error();
    } catch {
      report(`no schema for ${doc.apiVersion} ${doc.kind} (unknown kind or API version)`);
      continue;
    }
    // kustomize v5 folds long base64 values over lines; the API server's base64 decoder skips line breaks too.
    if (doc.kind === "Secret" && doc.data && typeof doc.data === "object") {
      for (const [k, v] of Object.entries(doc.data)) if (typeof v === "string") doc.data[k] = v.replace(/\s+/g, "");
    }
    try {
      new Model(doc).validate();
    } catch (e) {
      for (const line of String(e.message).split(/,\s*(?=data)/)) report(line.replace(/^data/, "").trim());
    }
    policy(doc, report);
    const className = version.charAt(0).toUpperCase() + version.slice(1) + doc.kind;
    if (!k8s[className]) report(`no field map for ${className}`);
    else unknownFields(doc, className, "", report);
  }
}

if (siloDeployments.length > 0 && siloPolicies.length === 0) {
  problems.push(
    "no NetworkPolicy selects the silo pods (app.kubernetes.io/name: prunefuse-silo): every pod could reach them");
}
for (const p of problems) console.error(p);
if (problems.length > 0) {
  console.error(`${problems.length} problem(s) in ${objects} object(s)`);
  process.exit(1);
}
console.log(`${objects} objects valid`);
