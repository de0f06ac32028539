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
