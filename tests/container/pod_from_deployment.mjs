// Prints docker/k8s/deployment.yaml's pod template as a Pod that `podman kube play` runs on this machine:
// the image named IMAGE, the default model swapped for a test repository, and HF_ENDPOINT set in the init
// container so it pulls from tests/e2e/hub_server.py. restartPolicy OnFailure: podman 4.3 restarts init
// containers of an "Always" pod (a Deployment's) after they succeed. Nothing else changes.
//
// Usage: node pod_from_deployment.mjs IMAGE MODEL_REF HF_ENDPOINT
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(new URL('../e2e/deploy/package.json', import.meta.url));
const YAML = require('yaml');
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const [image, ref, endpoint] = process.argv.slice(2);
if (!endpoint) {
    console.error('usage: node pod_from_deployment.mjs IMAGE MODEL_REF HF_ENDPOINT');
    process.exit(2);
}
const deploy = YAML.parse(fs.readFileSync(`${ROOT}docker/k8s/deployment.yaml`, 'utf8'));
const dflt = /^DEFAULT_MODEL\s*:=\s*(\S+)/m.exec(fs.readFileSync(`${ROOT}Makefile`, 'utf8'))[1];
const swap = (list) => list?.map((a) => (a === dflt ? ref : a));
const spec = structuredClone(deploy.spec.template.spec);
for (const c of [...spec.initContainers, ...spec.containers]) {
    c.image = image;
    c.command = swap(c.command);
    c.args = swap(c.args);
    if (!c.command) delete c.command;
    if (!c.args) delete c.args;
}
spec.initContainers[0].env = [...(spec.initContainers[0].env ?? []), { name: 'HF_ENDPOINT', value: endpoint }];
spec.restartPolicy = 'OnFailure';
const meta = deploy.spec.template.metadata;
process.stdout.write(YAML.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: deploy.metadata.name, labels: meta.labels, annotations: meta.annotations },
    spec,
}));
