import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { presentIds } from '../../infra/local/present-ids.js';
import { parseSkipList } from '../../lambdas/console/replay.js';

const msg = (id: string, date = 'Sun, 22 Nov 2026 09:00:00 +0000') =>
  `From: a@example.org\r\nTo: b@example.com\r\nDate: ${date}\r\nMessage-ID:\r\n ${id}\r\nSubject: x\r\n\r\nbody\r\nMessage-ID: <not-a-header@body>\r\n`;

describe('presentIds', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-present-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a Maildir with its subfolders (cur and new, never tmp), folded headers included', async () => {
    const md = path.join(dir, 'Maildir');
    for (const sub of ['cur', 'new', 'tmp', '.Sent/cur'])
      await mkdir(path.join(md, sub), { recursive: true });
    await writeFile(path.join(md, 'cur', '1:2,S'), msg('<one@Example.ORG>'));
    await writeFile(path.join(md, 'new', '2'), msg('<two@example.org>'));
    await writeFile(path.join(md, 'tmp', '3'), msg('<half-written@example.org>'));
    await writeFile(path.join(md, '.Sent', 'cur', '4:2,S'), msg('<four@example.org>'));
    expect((await presentIds(md)).sort()).toEqual([
      '<four@example.org>',
      '<one@example.org>',
      '<two@example.org>',
    ]);
  });

  it('reads every message of an mbox file, and only the header blocks', async () => {
    const mbox = path.join(dir, 'inbox.mbox');
    await writeFile(
      mbox,
      `From a@example.org Sun Nov 22 09:00:00 2026\n${msg('<m1@x.test>').replace(/\r\n/g, '\n')}\nFrom b@example.org Sun Nov 22 09:01:00 2026\n${msg('<m2@X.TEST>').replace(/\r\n/g, '\n')}`,
    );
    expect(await presentIds(mbox)).toEqual(['<m1@x.test>', '<m2@x.test>']);
  });

  it('reads a folder of .eml files at any depth, keeping only messages dated from --since', async () => {
    await mkdir(path.join(dir, 'export', 'deep'), { recursive: true });
    await writeFile(
      path.join(dir, 'export', 'old.eml'),
      msg('<old@x.test>', 'Mon, 2 Nov 2026 09:00:00 +0000'),
    );
    await writeFile(path.join(dir, 'export', 'deep', 'new.EML'), msg('<new@x.test>'));
    await writeFile(path.join(dir, 'export', 'notes.txt'), 'not mail');
    expect(await presentIds(path.join(dir, 'export'), { since: new Date('2026-11-20T00:00:00Z') })).toEqual([
      '<new@x.test>',
    ]);
  });
});

describe('parseSkipList', () => {
  it('takes ids with or without <>, lower-cases their domain only, and drops duplicates and comments', () => {
    expect(
      parseSkipList(
        '# restored from last night\n<Ab.C@Mail.Example.COM>\r\nAb.C@mail.example.com\n\n  x@Y  \n',
      ),
    ).toEqual({
      ids: ['Ab.C@mail.example.com', 'x@y'],
      invalid: [],
    });
  });
});
