/**
 * Address fields of the composer: splitting what a user types or pastes ("Bob <bob@x>, carol@y;
 * dave@z" from a spreadsheet or another mail client) into recipients, and telling a real address
 * from a typo before the server refuses the whole message. Pure functions, no DOM.
 */

/**
 * A plausible mailbox: something@domain.tld, no spaces, quotes, brackets or separators. Stricter
 * than RFC 5322 (no quoted local parts, no dotless domains) on purpose: those are typos far more
 * often than real addresses, and the server still has the last word.
 */
const MAILBOX = /^[^\s@<>"(),;:[\]\\]+@[^\s@<>"(),;:[\]\\]+\.[^\s@<>"(),;:[\]\\.]{2,}$/;

const NAMED = /^\s*(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*<([^<>]*)>\s*$/;

/** One recipient as the chips show it. */
export interface Recipient {
  /** What is sent to the server: `Name <address>` or the bare address, as typed. */
  text: string;
  /** The address alone, lower-cased for comparing. */
  address: string;
  /** The display name, when one was given. */
  name: string | null;
  valid: boolean;
}

/** Reads one recipient: `Name <a@b.c>`, `"Last, First" <a@b.c>`, `<a@b.c>` or `a@b.c`. */
export function parseRecipient(raw: string): Recipient {
  const text = raw.trim().replace(/\s+/g, ' ');
  const m = NAMED.exec(text);
  const address = (m ? (m[3] ?? '') : text).trim().replace(/^mailto:/i, '');
  const name = m ? (m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1').trim() || null : null;
  const valid = MAILBOX.test(address) && address.length <= 254;
  // A name is always sent quoted, so a comma in it never splits it into two recipients.
  const quotedName = name ? `"${name.replace(/["\\]/g, '\\$&')}" <${address}>` : address;
  return { text: quotedName, address: address.toLowerCase(), name, valid };
}

/**
 * Splits a typed or pasted list on commas, semicolons and line breaks, but not inside a quoted
 * name ("Jones, Bob" <bob@…>) or angle brackets.
 */
export function splitRecipients(list: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let angle = false;
  for (let i = 0; i < list.length; i++) {
    const c = list[i] as string;
    if (c === '\\' && quoted) {
      cur += c + (list[i + 1] ?? '');
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    else if (c === '<' && !quoted) angle = true;
    else if (c === '>' && !quoted) angle = false;
    if (!quoted && !angle && /[,;\n\r\t]/.test(c)) {
      if (cur.trim() !== '') out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}

/** Adds the recipients of `typed` to `current`, leaving out any address already there. */
export function addRecipients(current: Recipient[], typed: string): Recipient[] {
  const seen = new Set(current.map((r) => r.address));
  const next = [...current];
  for (const part of splitRecipients(typed)) {
    const r = parseRecipient(part);
    if (r.address === '' || seen.has(r.address)) continue;
    seen.add(r.address);
    next.push(r);
  }
  return next;
}

/** What a chip says: the name when there is one, else the address. */
export function chipLabel(r: Recipient): string {
  return r.name ?? r.address;
}
