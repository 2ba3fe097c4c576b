// What the deploy suites share: the repository's paths, the files under docker/ read as their tools read them
// (YAML documents, the Dockerfile's instructions), and the Kubernetes schema check.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const K8S = path.join(ROOT, 'docker/k8s');
const require = createRequire(import.meta.url);

export function readYaml(file) {
    const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
    for (const d of docs) if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
    return docs.map((d) => d.toJS()).filter((d) => d !== null);
}

/* The Kubernetes objects of docker/k8s in kustomization.yaml's order: [{file, obj}]. */
export function k8sObjects() {
    const [kust] = readYaml(path.join(K8S, 'kustomization.yaml'));
    const out = [];
    for (const r of kust.resources ?? []) for (const obj of readYaml(path.join(K8S, r))) out.push({ file: r, obj });
    return { kust, objects: out };
}

export function k8sFind(objects, kind) {
    const found = objects.filter((o) => o.obj.kind === kind);
    if (found.length !== 1) throw new Error(`expected one ${kind} in docker/k8s, found ${found.length}`);
    return found[0].obj;
}

/*
 * The Dockerfile's instructions per stage: [{from, as, ins: [{op, args, json}]}]. Continuation lines are joined
 * and comments dropped, as the builder does; `json` holds the parsed exec form (ENTRYPOINT ["a", "b"]) when the
 * arguments are one.
 */
export function dockerfile(file = path.join(ROOT, 'docker/Dockerfile')) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    const stages = [];
    let cur = '';
    const flush = () => {
        const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(cur);
        cur = '';
        if (!m) return;
        const op = m[1].toUpperCase(), args = m[2].trim();
        let json = null;
        if (args.startsWith('[')) {
            try {
                json = JSON.parse(args);
            } catch {
                json = null;
            }
        }
        if (op === 'FROM') {
            const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
            stages.push({ from: f[1], as: f[2] ?? null, ins: [] });
        } else if (stages.length) stages[stages.length - 1].ins.push({ op, args, json });
    };
    for (const line of lines) {
        if (!cur && /^\s*#/.test(line)) continue;
        if (/^\s*#/.test(line)) continue; // comments inside a continued instruction
        if (line.endsWith('\\')) cur += line.slice(0, -1) + ' ';
        else {
            cur += line;
            flush();
        }
    }
    flush();
    return stages;
}

export function lastIns(stage, op) {
    const all = stage.ins.filter((i) => i.op === op);
    return all.length ? all[all.length - 1] : null;
}

/*
 * Validates one Kubernetes object with the OpenAPI schemas of Kubernetes 1.27 that the npm package
 * kubernetes-models compiles into validators, and finds fields the schema does not define. The schemas leave
 * additionalProperties open, so a misspelt field (readinesProbe) would pass them, while an API server drops it
 * (or, with strict field validation, refuses it): the object is wrapped in proxies that record which fields the
 * validator reads. A validator reads every field its schema defines (and every key of a map); a field nobody read
 * is unknown. Returns a list of problems, [] when the object is valid.
 */
const SCHEMAS = {
    'apps/v1 Deployment': 'IoK8sApiAppsV1Deployment',
    'v1 Service': 'IoK8sApiCoreV1Service',
    'autoscaling/v2 HorizontalPodAutoscaler': 'IoK8sApiAutoscalingV2HorizontalPodAutoscaler',
    'v1 Secret': 'IoK8sApiCoreV1Secret',
    'v1 ConfigMap': 'IoK8sApiCoreV1ConfigMap',
    'v1 PersistentVolumeClaim': 'IoK8sApiCoreV1PersistentVolumeClaim',
};

export function k8sProblems(obj) {
    const key = `${obj?.apiVersion} ${obj?.kind}`;
    const name = SCHEMAS[key];
    if (!name) return [`no schema here for ${key}`];
    const dir = path.dirname(require.resolve('kubernetes-models/package.json'));
    const { validate } = require(path.join(dir, '_schemas', `${name}.js`));
    const seen = [];
    const wrap = (v, at) => {
        if (v === null || typeof v !== 'object') return v;
        const read = new Set();
        const inner = Array.isArray(v)
            ? v.map((x, i) => wrap(x, `${at}/${i}`))
            : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, wrap(x, `${at}/${k}`)]));
        if (!Array.isArray(v)) seen.push({ at, keys: Object.keys(v), read });
        return new Proxy(inner, {
            get(t, k, r) {
                if (typeof k === 'string') read.add(k);
                return Reflect.get(t, k, r);
            },
        });
    };
    const problems = [];
    if (!validate(wrap(obj, ''))) {
        for (const e of validate.errors) problems.push(`${e.instancePath || '/'}: ${e.keyword} ${JSON.stringify(e.params)}`);
        return problems; // the validator may stop early: unread fields would be guesses
    }
    const unknown = seen.flatMap((s) => s.keys.filter((k) => !s.read.has(k)).map((k) => `${s.at}/${k}`));
    // only the outermost: the fields inside an unknown one were never read either
    return unknown.filter((u) => !unknown.some((o) => u.startsWith(o + '/'))).map((u) => `${u}: unknown field`);
}

/* Kubernetes quantities (memory: 1536Mi, 2G; cpu: 2, 500m) as numbers of bytes or cores. */
export function quantity(q) {
    const m = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(q));
    if (!m) throw new Error(`not a quantity: ${q}`);
    const mult = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
    return Number(m[1]) * (m[2] ? mult[m[2]] : 1);
}

/* The value that follows a flag in an argument list (--flag VALUE or --flag=VALUE), or undefined. */
export function flagValue(args, ...names) {
    for (let i = 0; i < args.length; i++) {
        for (const n of names) {
            if (args[i] === n) return args[i + 1];
            if (args[i].startsWith(n + '=')) return args[i].slice(n.length + 1);
        }
    }
    return undefined;
}
