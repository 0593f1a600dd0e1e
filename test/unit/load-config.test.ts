import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLocalConfig } from '../../infra/local/load-config.js';
import { ConfigError } from '../../lambdas/core/errors.js';

describe('loadLocalConfig', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-config-'));

  it('names a missing LIFEBOAT_CONFIG_FILE as a config error, not a crash', () => {
    const load = () => loadLocalConfig({ LIFEBOAT_CONFIG_FILE: 'nope.json' }, dir);
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/LIFEBOAT_CONFIG_FILE is invalid:\n {2}- names .*nope\.json, which does not exist/);
  });

  it('says when LIFEBOAT_CONFIG_FILE names a folder', () => {
    mkdirSync(path.join(dir, 'conf.d'), { recursive: true });
    expect(() => loadLocalConfig({ LIFEBOAT_CONFIG_FILE: 'conf.d' }, dir)).toThrow(
      /conf\.d is a folder, not a JSON file/,
    );
  });

  it('falls back to the demo config only when no file is named and none is in the folder', () => {
    expect(loadLocalConfig({}, dir)).toMatchObject({ file: null, config: { domains: ['example.com'] } });
  });

  it('reports a broken file by its path, never as the demo', () => {
    writeFileSync(path.join(dir, 'lifeboat.config.json'), '{ "domains": [');
    expect(() => loadLocalConfig({}, dir)).toThrow(
      /lifeboat\.config\.json is invalid:\n {2}- \(root\): not valid JSON/,
    );
  });
});
