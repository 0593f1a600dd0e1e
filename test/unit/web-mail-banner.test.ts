import { describe, expect, it } from 'vitest';
import type { StatusResponse } from '../../lambdas/webmail/schemas.js';
import { continuityBannerText } from '../../web/src/mail/banner.js';

const status = (marks: Partial<StatusResponse>): StatusResponse => ({
  state: 'continuity',
  since: '2026-11-22T10:00:00.000Z',
  scopeCoversMe: true,
  ...marks,
});

describe('continuityBannerText', () => {
  it('tells staff in an outage that their mail server is down, and nothing about a drill', () => {
    const banner = continuityBannerText(status({}));
    expect(banner?.tone).toBe('continuity');
    expect(banner?.words).toMatch(/^Your mail server is down\./);
    expect(banner?.words).not.toMatch(/drill|rehearsal/i);
  });

  it('says a drill is a drill, a rehearsal with the mail server not really down, in the outage’s look', () => {
    const banner = continuityBannerText(status({ drill: true }));
    expect(banner?.tone).toBe('continuity');
    expect(banner?.words).toMatch(/^Drill, a rehearsal: your mail server is not really down\./);
  });

  it('says so while a drill’s held mail is handed back too', () => {
    expect(continuityBannerText(status({ state: 'recovering', drill: true }))).toEqual({
      tone: 'recovering',
      words: expect.stringMatching(/^Drill ending:/),
    });
    expect(continuityBannerText(status({ state: 'recovering' }))?.words).toMatch(
      /^Your mail server is back\./,
    );
  });

  it('shows nothing when the event does not hold my mail, nor while admins are only alerted', () => {
    expect(continuityBannerText(status({ scopeCoversMe: false, drill: true }))).toBeNull();
    expect(continuityBannerText(status({ state: 'alerting', drill: true }))).toBeNull();
    expect(continuityBannerText(status({ state: 'normal', since: null, scopeCoversMe: false }))).toBeNull();
    expect(continuityBannerText(null)).toBeNull();
  });
});
