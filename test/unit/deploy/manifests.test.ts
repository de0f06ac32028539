/**
 * The shipped deployment files keep the daemon closed by default: the Kubernetes Deployment cannot start without
 * its Secret (not optional), a template of that Secret ships beside the manifest, and the settings the image, the
 * manifest and the Secret give together pass the start-up check; without the Secret they would not (the daemon
 * listens on every interface in a container). docker compose asks for the token instead of running open.
 */
import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import { apiExposureProblem, loadConfig } from '../../../src/config/config.js';

type Doc = {
  kind?: string;
  metadata?: { name?: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    template?: {
      spec?: {
        containers?: {
          envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string; optional?: boolean } }[];
        }[];
      };
    };
  };
};

const docs = (path: string): Doc[] => parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJS() as Doc);

/** ENV lines of the runtime stage of the Dockerfile, as a map. */
function dockerfileEnv(): Record<string, string> {
  const text = readFileSync('deploy/Dockerfile', 'utf8').replace(/\\\n/g, ' ');
  const runtime = text.slice(text.lastIndexOf('FROM '));
  const env: Record<string, string> = {};
  for (const line of runtime.split('\n').filter((l) => l.startsWith('ENV ')))
    for (const m of line.slice(4).matchAll(/([A-Z_]+)=(\S+)/g)) env[m[1]!] = m[2]!;
  return env;
}

const SECRET_TEMPLATE = 'deploy/k8s/secret.yaml.template';

describe('Kubernetes manifest', () => {
  it('requires the Secret, and ships a template of it', () => {
    const deployment = docs('deploy/k8s/funnelwatch.yaml').find((d) => d.kind === 'Deployment')!;
    const envFrom = deployment.spec!.template!.spec!.containers![0]!.envFrom!;
    const secretRef = envFrom.find((e) => e.secretRef)?.secretRef;
    expect(secretRef).toBeDefined();
    expect(secretRef!.optional ?? false).toBe(false);

    // Not *.yaml, so `kubectl apply -f deploy/k8s/` never applies the placeholder as a real Secret.
    expect(existsSync(SECRET_TEMPLATE)).toBe(true);
    const [secret] = docs(SECRET_TEMPLATE);
    expect(secret).toMatchObject({ kind: 'Secret', metadata: { name: secretRef!.name } });
    expect(Object.keys(secret!.stringData ?? {})).toContain('FW_INGEST_TOKEN');
  });

  it('starts with the image, the ConfigMap and the Secret, and would refuse without the Secret', () => {
    const all = docs('deploy/k8s/funnelwatch.yaml');
    const configMap = all.find((d) => d.kind === 'ConfigMap')!.data!;
    const base = { ...dockerfileEnv(), ...configMap };
    const [secret] = docs(SECRET_TEMPLATE);
    const withSecret = loadConfig({ ...base, ...secret!.stringData, FW_INGEST_TOKEN: 'a-real-random-token' });
    expect(withSecret.FW_HTTP_HOST).toBe('0.0.0.0');
    expect(apiExposureProblem(withSecret)).toBeNull();
    expect(apiExposureProblem(loadConfig(base))).toMatch(/FW_INGEST_TOKEN/);
  });
});

describe('docker compose', () => {
  it('asks for FW_INGEST_TOKEN rather than serving the published port open', () => {
    const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as {
      services: { funnelwatch: { environment: Record<string, string> } };
    };
    const env = compose.services.funnelwatch.environment;
    expect(env.FW_INGEST_TOKEN).toMatch(/^\$\{FW_INGEST_TOKEN:\?.+\}$/);
    expect(env.FW_AUTH).toBeUndefined();
  });
});

/**
 * Packaging as ops expect it: the licence package.json names, a build context without node_modules and .git, an
 * image that runs as a numeric non-root user on a read-only root file system (Dockerfile, Kubernetes, compose),
 * rules from a whole-directory ConfigMap mount (hot reload), resource requests, and named volumes for the data.
 */
describe('packaging', () => {
  it('ships the Apache-2.0 licence package.json names, in full', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { license: string };
    expect(pkg.license).toBe('Apache-2.0');
    const text = readFileSync('LICENSE', 'utf8');
    expect(text).toMatch(/^\s+Apache License\n\s+Version 2\.0, January 2004/);
    for (let section = 1; section <= 9; section++) expect(text).toMatch(new RegExp(`^\\s+${section}\\. \\w`, 'm'));
    expect(text).toContain('END OF TERMS AND CONDITIONS');
  });

  it('keeps node_modules, .git, dist and secrets out of the image build context, and what the build needs in', () => {
    const ignored = readFileSync('.dockerignore', 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const p of ['node_modules', '.git', 'dist', '.env', 'funnelwatch-secrets.yaml']) expect(ignored).toContain(p);
    const copied = [...readFileSync('deploy/Dockerfile', 'utf8').matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)]
      .flatMap((m) => m[1]!.split(' '))
      .map((p) => p.split('/')[0]!);
    expect(copied.sort()).toEqual([
      'package-lock.json',
      'package.json',
      'rules',
      'scripts',
      'src',
      'tsconfig.build.json',
      'tsconfig.json',
    ]);
    for (const p of copied) expect(ignored).not.toContain(p);
  });

  it('runs as a numeric non-root user with a read-only root file system, everywhere', () => {
    const dockerfile = readFileSync('deploy/Dockerfile', 'utf8');
    const user = /^USER (\d+):(\d+)$/m.exec(dockerfile.slice(dockerfile.lastIndexOf('FROM ')));
    expect(user && Number(user[1])).toBeGreaterThan(0);
    const deployment = docs('deploy/k8s/funnelwatch.yaml').find((d) => d.kind === 'Deployment') as unknown as {
      spec: { template: { spec: K8sPod } };
    };
    const pod = deployment.spec.template.spec;
    const c = pod.containers[0]!;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    // /tmp is the one place written, and it is a volume.
    expect(c.volumeMounts.find((m) => m.mountPath === '/tmp')).toBeDefined();
    const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as {
      services: Record<string, { read_only?: boolean; tmpfs?: string[]; volumes?: string[] }>;
      volumes: Record<string, unknown>;
    };
    expect(compose.services.funnelwatch).toMatchObject({ read_only: true, tmpfs: ['/tmp'] });
  });

  it('mounts the rules ConfigMap as a whole directory (hot reload) and requests what the benchmarks measured', () => {
    const deployment = docs('deploy/k8s/funnelwatch.yaml').find((d) => d.kind === 'Deployment') as unknown as {
      spec: { template: { spec: K8sPod } };
    };
    const pod = deployment.spec.template.spec;
    const c = pod.containers[0]!;
    const rulesDir = docs('deploy/k8s/funnelwatch.yaml').find((d) => d.kind === 'ConfigMap')!.data!.FW_RULES_DIR;
    const mount = c.volumeMounts.find((m) => m.mountPath === rulesDir)!;
    expect(mount.subPath).toBeUndefined();
    expect(pod.volumes.find((v) => v.name === mount.name)?.configMap?.name).toBe('funnelwatch-rules');
    // Peak RSS in bench:ingest was 450-556 MB: the request holds it, the limit leaves room.
    expect(c.resources.requests).toEqual({ cpu: '250m', memory: '512Mi' });
    expect(c.resources.limits).toEqual({ memory: '1Gi' });
  });

  it('docker compose keeps Redis and Kafka data in named volumes', () => {
    const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as {
      services: Record<string, { volumes?: string[] }>;
      volumes: Record<string, unknown>;
    };
    expect(Object.keys(compose.volumes).sort()).toEqual(['kafka-data', 'redis-data']);
    expect(compose.services.redis!.volumes).toContain('redis-data:/data');
    expect(compose.services.kafka!.volumes).toContain('kafka-data:/var/lib/kafka/data');
    expect(Object.keys(compose.services).sort()).toEqual(['funnelwatch', 'kafka', 'redis']);
  });
});

interface K8sPod {
  securityContext: { runAsNonRoot?: boolean };
  containers: {
    securityContext: Record<string, unknown>;
    volumeMounts: { name: string; mountPath: string; subPath?: string }[];
    resources: { requests: Record<string, string>; limits: Record<string, string> };
  }[];
  volumes: { name: string; configMap?: { name: string } }[];
}
