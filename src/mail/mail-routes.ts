// Which app a recipient's mail belongs to (SPEC 5.3): by the domain of the address, as the
// host's `apps.NAME.mail_domains` says (default NAME.localhost). The gateway is never a
// relay: a domain no app claims is refused for good. The domainless `postmaster` (RFC 5321
// 4.5.1: it MUST be accepted) goes to the app `mail.postmaster` names, or is kept.
import { domainToASCII } from 'node:url';

/** One app as the mail listener sees it, built afresh for each recipient (the apps change). */
export interface MailRoute {
  app: string;
  /** Lowercase, no trailing dot. */
  domains: string[];
  /** The serving version's `mail:` path; null when it takes no mail (or none serves: see `serving`). */
  path: string | null;
  /** False while no version of the app serves: whether it takes mail is not known now. */
  serving: boolean;
  /**
   * The largest body the serving version takes (`max_body`): a delivery is a POST, so a larger
   * message could never be delivered, and is refused at SMTP time instead (552).
   */
  maxBody: number;
  /**
   * The serving version's `timeout` (ms): how long its requests may take to answer, its mail
   * deliveries among them; absent while none serves.
   */
  timeoutMs?: number;
  /** The app's `hosts:` (apps.NAME.hosts of the environment file): a delivery's Host is its first exact one. */
  hosts?: readonly string[];
}

export type RecipientRoute =
  | { kind: 'app'; app: string; path: string; maxBody: number }
  /** The domain is an app's, but that app does not declare `mail:`. */
  | { kind: 'no-mail'; app: string }
  /** The domain is an app's that does not serve now: a temporary refusal, the sender retries. */
  | { kind: 'not-serving'; app: string }
  | { kind: 'unknown-domain'; domain: string }
  /**
   * `postmaster` with no app to take it: accepted all the same, and kept as a dead letter at
   * once (listed in status) for the host's administrator, with `reason`.
   */
  | { kind: 'kept'; reason: string };

/** RCPT TO:<postmaster>, any case, no domain (RFC 5321 4.5.1). */
export function isPostmaster(address: string): boolean {
  return address.toLowerCase() === 'postmaster';
}

/**
 * The domain part of `user@domain`, lowercase, trailing dot dropped, an internationalised one
 * in its ASCII form (`bücher.example` -> `xn--bcher-kva.example`, as `mail_domains` names it);
 * '' when there is none.
 */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return '';
  const domain = address.slice(at + 1).toLowerCase().replace(/\.$/, '');
  // smtp-server hands every domain over in its Unicode form, `xn--bcher-kva.example` sent in
  // ASCII too (RFC 5890: the two are one domain). One that is no domain name stays as sent.
  return /^[\x00-\x7f]*$/.test(domain) ? domain : domainToASCII(domain) || domain;
}

/** `postmaster`: the app `mail.postmaster` names (null: not set). */
export function routeRecipient(address: string, routes: MailRoute[], postmaster: string | null): RecipientRoute {
  if (isPostmaster(address)) return routePostmaster(routes, postmaster);
  const domain = domainOf(address);
  const route = domain === '' ? undefined : routes.find((r) => r.domains.includes(domain));
  if (route === undefined) return { kind: 'unknown-domain', domain };
  if (!route.serving) return { kind: 'not-serving', app: route.app };
  if (route.path === null) return { kind: 'no-mail', app: route.app };
  return { kind: 'app', app: route.app, path: route.path, maxBody: route.maxBody };
}

/**
 * A host's postmaster mail may be a bounce or an abuse report about any of its apps: it goes only
 * to the app the host chose, never to one picked by order. Without one (or one that cannot take
 * mail) it is kept where the administrator looks: the dead letters in status.
 */
function routePostmaster(routes: MailRoute[], postmaster: string | null): RecipientRoute {
  if (postmaster === null) return { kind: 'kept', reason: 'mail for postmaster, and no app takes it: name one in mail.postmaster of the environment file' };
  const route = routes.find((r) => r.app === postmaster);
  if (route === undefined) return { kind: 'kept', reason: `mail for postmaster, and mail.postmaster names ${postmaster}, which is not an app here` };
  if (!route.serving) return { kind: 'not-serving', app: route.app };
  if (route.path === null) return { kind: 'kept', reason: `mail for postmaster, and mail.postmaster names ${postmaster}, which takes no mail (no mail: in its app.yaml)` };
  return { kind: 'app', app: route.app, path: route.path, maxBody: route.maxBody };
}

/** An app's claim to mail: the domains `apps.NAME.mail_domains` gives it (lowercase), or none. */
export interface DomainClaim {
  app: string;
  explicit: string[];
}

/** A domain that more than one app would take: it goes to `owner`, never to `others`. */
export interface DomainCollision {
  domain: string;
  owner: string;
  others: string[];
}

/**
 * Each app's mail domains: those the environment file names, else NAME.localhost (lowercase: a
 * domain is compared so). The file refuses one domain named for two apps; a default can still
 * meet another's: the domain another app names is that app's, and of two apps whose names
 * differ only in case (`Cap`, `cap`) the first takes it. Each such meeting is returned, for the
 * log: otherwise one app's mail would silently go to the other.
 */
export function mailDomainsOf(claims: DomainClaim[]): { domains: Map<string, string[]>; collisions: DomainCollision[] } {
  const owners = new Map<string, string>();
  for (const { app, explicit } of claims) for (const domain of explicit) owners.set(domain, app);
  const domains = new Map<string, string[]>();
  const collisions = new Map<string, DomainCollision>();
  for (const { app, explicit } of claims) {
    if (explicit.length > 0) {
      domains.set(app, explicit);
      continue;
    }
    const domain = `${app.toLowerCase()}.localhost`;
    const owner = owners.get(domain);
    if (owner === undefined) {
      owners.set(domain, app);
      domains.set(app, [domain]);
      continue;
    }
    domains.set(app, []);
    const collision = collisions.get(domain) ?? { domain, owner, others: [] };
    collision.others.push(app);
    collisions.set(domain, collision);
  }
  return { domains, collisions: [...collisions.values()] };
}
