// The commands of docker/k8s/deployment.yaml and docker/compose.yaml, run the way the pod and the Compose service
// run them, with the real ./cinder on this machine: the image's entrypoint and working directory, the manifest's
// command, args and environment, and the model volume as a scratch folder. Two substitutions: the hub is
// tests/e2e/hub_server.py on 127.0.0.1 (HF_ENDPOINT), serving a test repository in place of the default model, and
// --port is 0 (a free port) so that runs never collide. Probes, /metrics, the API, SIGTERM and the image's
// HEALTHCHECK command then do what the manifests expect of them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { ROOT, readYaml, k8sObjects, k8sFind, dockerfile, lastIns, flagValue } from './common.mjs';

const BIN = process.env.CINDER_BIN ?? path.join(ROOT, 'cinder');
const SHARED = process.env.SHARED ?? path.join(ROOT, '../shared');
const REF = 'test/stories260K-GGUF:Q8_0'; // a repository of hub_server.py
const FILE = 'stories260K-Q8_0.gguf';
const DEFAULT_MODEL = /^DEFAULT_MODEL\s*:=\s*(\S+)/m.exec(fs.readFileSync(path.join(ROOT, 'Makefile'), 'utf8'))[1];

const stages = dockerfile();
const runtime = stages[stages.length - 1];
const entrypoint = lastIns(runtime, 'ENTRYPOINT').json;
const workdir = lastIns(runtime, 'WORKDIR').args;
const imageEnv = Object.fromEntries(lastIns(runtime, 'ENV').args.split(/\s+/).map((kv) => kv.split('=')));
const healthcheck = /CMD\s+(.*?)\s*(\|\|.*)?$/.exec(lastIns(runtime, 'HEALTHCHECK').args)[1].split(/\s+/);

let tmp, hub, hubUrl, hubLog;

before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cinder-deploy-'));
    const portFile = path.join(tmp, 'hub.port');
    hubLog = path.join(tmp, 'hub.log');
    hub = spawn('python3', [path.join(ROOT, 'tests/e2e/hub_server.py'), path.join(SHARED, 'models'), portFile, hubLog],
        { stdio: ['ignore', 'ignore', 'inherit'] });
    for (let i = 0; i < 100 && !fs.existsSync(portFile); i++) await sleep(100);
    const [port] = fs.readFileSync(portFile, 'utf8').trim().split(/\s+/);
    hubUrl = `http://127.0.0.1:${port}`;
});

after(() => {
    hub?.kill('SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
});

function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}

/* A container's argv on this machine: `cinder` is ./cinder, the default model is the test repository, --port 0. */
function local(argv) {
    const out = argv.map((a) => (a === DEFAULT_MODEL ? REF : a));
    if (out[0] === 'cinder') out[0] = BIN;
    const p = out.indexOf('--port');
    if (p >= 0) out[p + 1] = '0';
    return out;
}

/* The image's ENV with the volume under `vol` (XDG_CACHE_HOME=/models/cache -> VOL/cache). */
function imageEnvAt(vol) {
    return Object.fromEntries(Object.entries(imageEnv).map(([k, v]) => [k, v.replace(workdir, vol)]));
}

/* A minimal environment: PATH and HOME only, as a container starts with little. */
function baseEnv(home) {
    return { PATH: process.env.PATH, HOME: home };
}

/* Starts `cinder serve`; resolves once it prints its address: {proc, url, out(), err()}. */
async function startServer(argv, env, cwd) {
    const proc = spawn(argv[0], argv.slice(1), { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    const exited = new Promise((r) => proc.on('exit', (code, sig) => r({ code, sig })));
    for (let i = 0; i < 600; i++) {
        const m = /^listening on (http:\S+)$/m.exec(out);
        if (m) return { proc, exited, url: m[1].replace('0.0.0.0', '127.0.0.1'), out: () => out, err: () => err };
        if (proc.exitCode !== null) break;
        await sleep(50);
    }
    proc.kill('SIGKILL');
    throw new Error(`server did not start: ${argv.join(' ')}\n${err}`);
}

/* Polls GET /health as a probe does, at most `tries` times `ms` apart; the last status (0: no answer). */
async function probe(url, tries, ms) {
    let status = 0;
    for (let i = 0; i < tries; i++) {
        try {
            status = (await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) })).status;
        } catch {
            status = 0;
        }
        if (status === 200) break;
        await sleep(ms);
    }
    return status;
}

/* SIGTERM, as the kubelet and `docker stop` send it: the exit status within `graceS` seconds. */
async function terminate(server, graceS) {
    server.proc.kill('SIGTERM');
    const t0 = Date.now();
    let timer;
    const r = await Promise.race([server.exited, new Promise((res) => (timer = setTimeout(res, graceS * 1000, null)))]);
    clearTimeout(timer);
    if (!r) server.proc.kill('SIGKILL');
    return { ...r, seconds: (Date.now() - t0) / 1000 };
}

async function chat(url, model, key) {
    const headers = { 'content-type': 'application/json' };
    if (key) headers.authorization = `Bearer ${key}`;
    const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 8 }),
    });
    return { status: res.status, body: await res.json() };
}

function hubRequests() {
    return fs.existsSync(hubLog) ? fs.readFileSync(hubLog, 'utf8').trim().split('\n').filter(Boolean).map(JSON.parse) : [];
}

test('the Deployment: init container pulls, the server starts from the cache, probes pass, SIGTERM exits 0', async () => {
    const { objects } = k8sObjects();
    const deploy = k8sFind(objects, 'Deployment');
    const pod = deploy.spec.template.spec;
    const vol = path.join(tmp, 'pod-models');
    fs.mkdirSync(vol);
    // the Secret "cinder" exists with api-keys only: hf-token is optional, so HF_TOKEN stays unset
    const secret = { 'api-keys': 'sk-pod-one,sk-pod-two' };
    const envOf = (c) => Object.fromEntries((c.env ?? []).flatMap((e) => {
        if (e.value !== undefined) return [[e.name, e.value]];
        const v = secret[e.valueFrom.secretKeyRef.key];
        return v === undefined ? [] : [[e.name, v]];
    }));

    const init = pod.initContainers.find((c) => c.name === 'pull');
    const r = spawnSync(local(init.command)[0], local(init.command).slice(1), {
        cwd: vol, encoding: 'utf8',
        env: { ...baseEnv(vol), ...imageEnvAt(vol), ...envOf(init), HF_ENDPOINT: hubUrl },
    });
    assert.equal(r.status, 0, r.stderr);
    const cached = path.join(imageEnvAt(vol).XDG_CACHE_HOME, 'cinder/models/test/stories260K-GGUF', FILE);
    assert.ok(fs.existsSync(cached), `${cached} after the init container`);
    assert.equal(r.stdout, `${cached}\n`, 'pull prints the path of the file');
    assert.equal(r.stderr, '', '--quiet: no progress');

    // The server container: the image's entrypoint + the manifest's args. HF_ENDPOINT goes nowhere: the model must
    // come from the volume the init container filled.
    const main = pod.containers.find((c) => c.name === 'cinder');
    const before = hubRequests().length;
    const s = await startServer(local([...entrypoint, ...main.args]), {
        ...baseEnv(vol), ...imageEnvAt(vol), ...envOf(main), HF_ENDPOINT: 'http://127.0.0.1:1',
    }, vol);
    try {
        const sp = main.startupProbe;
        assert.equal(await probe(s.url, sp.failureThreshold * 10, 100), 200, `startupProbe\n${s.err()}`);
        assert.equal(hubRequests().length, before, 'no hub request from the server');
        assert.equal(await probe(s.url, 1, 0), 200, 'readinessProbe');
        // Prometheus scrapes the annotated port and path without a key
        const ann = deploy.spec.template.metadata.annotations;
        const m = await fetch(`${s.url}${ann['prometheus.io/path']}`);
        assert.equal(m.status, 200);
        assert.match(await m.text(), /^cinder_/m);
        // the API takes the keys of the secret, and the model by its alias
        const alias = flagValue(main.args, '--alias');
        assert.equal((await chat(s.url, alias, null)).status, 401);
        const c = await chat(s.url, alias, 'sk-pod-two');
        assert.equal(c.status, 200, JSON.stringify(c.body));
        assert.equal(c.body.model, alias);
        assert.ok(c.body.usage.completion_tokens > 0);
        // --log-format json: every line on stderr is one JSON object
        for (const line of s.err().trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line), line);
        assert.match(s.err(), /"msg":"request"|"path":"\/v1\/chat\/completions"/);
    } finally {
        const t = await terminate(s, pod.terminationGracePeriodSeconds - 5 /* preStop sleeps 5 s */);
        assert.equal(t.code, 0, `exit status after SIGTERM (${t.seconds} s)\n${s.err()}`);
    }
});

test('compose.yaml: the service pulls on demand, needs no key when CINDER_API_KEYS is empty, healthcheck passes', async () => {
    const [compose] = readYaml(path.join(ROOT, 'docker/compose.yaml'));
    const svc = compose.services.cinder;
    // The shell (or .env) of `docker compose up`: MODEL names the test repository; CINDER_API_KEYS and HF_TOKEN
    // are set but empty (`HF_TOKEN=` in an .env file), which must mean no keys and no token.
    const vars = { MODEL: REF, CINDER_API_KEYS: '', HF_TOKEN: '' };
    // Compose interpolation (${VAR:-default}) and pass-through entries (a bare NAME: its value if set)
    const interp = (v) => String(v).replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_, k, d) => vars[k] || d || '');
    const env = Object.fromEntries(Array.isArray(svc.environment)
        ? svc.environment.map((e) => (e.includes('=') ? e.split(/=(.*)/s).slice(0, 2) : [e, vars[e]]))
            .filter(([, v]) => v !== undefined)
        : Object.entries(svc.environment).map(([k, v]) => [k, interp(v)]));
    assert.equal(env.CINDER_API_KEYS, '');
    assert.equal(env.HF_TOKEN, '');
    const vol = path.join(tmp, 'compose-models');
    fs.mkdirSync(vol);
    const before = hubRequests().length;
    const s = await startServer(local([...entrypoint, ...svc.command.map(interp)]), {
        ...baseEnv(vol), ...imageEnvAt(vol), ...env, HF_ENDPOINT: hubUrl,
    }, vol);
    try {
        assert.equal(await probe(s.url, 600, 100), 200, s.err());
        const reqs = hubRequests().slice(before);
        assert.ok(reqs.some((q) => q.path.endsWith(`/resolve/main/${FILE}`)), 'the model was downloaded');
        assert.ok(reqs.every((q) => q.auth === null), 'an empty HF_TOKEN sends no Authorization header');
        assert.ok(fs.existsSync(path.join(vol, 'cache/cinder/models/test/stories260K-GGUF', FILE)), 'into the volume');
        // the id clients send is the one /v1/models lists (the file name: no --alias here)
        const models = await (await fetch(`${s.url}/v1/models`)).json();
        assert.deepEqual(models.data.map((m) => m.id), [FILE.replace(/\.gguf$/, '')]);
        const c = await chat(s.url, models.data[0].id, null);
        assert.equal(c.status, 200, JSON.stringify(c.body));
        // the image's HEALTHCHECK command, at this server's port
        const port = new URL(s.url).port;
        const hc = healthcheck.map((a) => a.replace(/:8080\//, `:${port}/`));
        assert.ok(hc.some((a) => a.includes(`:${port}/health`)), hc.join(' '));
        const h = spawnSync(hc[0], hc.slice(1), { encoding: 'utf8' });
        assert.equal(h.status, 0, h.stderr);
    } finally {
        const grace = Number(/^(\d+)s$/.exec(svc.stop_grace_period)[1]);
        const t = await terminate(s, grace);
        assert.equal(t.code, 0, `exit status after SIGTERM (${t.seconds} s)\n${s.err()}`);
    }
    // after the server is gone the same HEALTHCHECK command fails
    const h = spawnSync(healthcheck[0], healthcheck.slice(1).map((a) => a.replace(/:8080\//, ':1/')));
    assert.notEqual(h.status, 0);
});
