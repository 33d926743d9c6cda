// What CREATE DATABASE would copy from template1 into an app's new database that no one the
// host trusts put there (SPEC 5.2: no app reaching another's). On PostgreSQL 14 and older, and
// on clusters upgraded from them, PUBLIC may CREATE in template1's `public` schema, and every
// role may CONNECT to template1 and make large objects there on any version: an app's role could
// plant a table, or a function shadowing a common name (`lower(varchar)` is an exact match where
// pg_catalog's `lower(text)` is not), and every app database made later would hold it, owned by
// the planting role, run by the other app's own code.
import type pg from 'pg';
import { GatewayError } from '../errors.js';

/** An object of template1 and its owner, as `pg_describe_object` names it. */
export interface TemplateObject {
  object: string;
  owner: string;
}

const TEMPLATE = 'template1';

/**
 * The objects of template1 owned by a role that is neither a superuser nor the admin itself
 * (`admin`, the connection's role), from the shared catalog pg_shdepend: an object owned by the
 * bootstrap superuser has no entry there, one owned by any other role does. Superusers and the
 * admin may do anything to the apps' databases anyway; the extensions and types a DBA installed
 * in template1 on purpose are theirs. `openTemplate` is asked only when there are some, for
 * their names (pg_describe_object answers for the database it runs in); a session left open on
 * template1 would make CREATE DATABASE fail, so it is closed before this returns.
 */
export async function foreignTemplateObjects(admin: pg.Client, openTemplate: (database: string) => Promise<pg.Client>): Promise<TemplateObject[]> {
  const found = await admin.query<{ classid: string; objid: string; objsubid: number; catalog: string; owner: string }>(
    `SELECT d.classid, d.objid, d.objsubid, d.classid::regclass::text AS catalog, r.rolname AS owner
     FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid
     WHERE d.dbid = (SELECT oid FROM pg_database WHERE datname = $1) AND d.deptype = 'o'
       AND NOT r.rolsuper AND r.rolname <> current_user
     ORDER BY r.rolname, d.classid, d.objid`,
    [TEMPLATE],
  );
  if (found.rows.length === 0) return [];
  // Unnamed (the admin may not connect to template1): the catalog and oid still let a DBA find it.
  const named = found.rows.map((r) => ({ object: `${r.catalog} ${r.objid}`, owner: r.owner }));
  let template: pg.Client | null = null;
  try {
    template = await openTemplate(TEMPLATE);
    for (const [i, r] of found.rows.entries()) {
      const d = await template.query<{ name: string | null }>('SELECT pg_describe_object($1, $2, $3) AS name', [r.classid, r.objid, r.objsubid]);
      if (d.rows[0]?.name) named[i].object = d.rows[0].name;
    }
  } catch {
    // The refusal that follows matters more than the names.
  } finally {
    await template?.end().catch(() => {});
  }
  return named;
}

/** APPPKG_SERVICE_FAILED for `database`, naming the objects, their owners, and how to clear template1. */
export function templateRefusal(database: string, server: string, found: TemplateObject[]): GatewayError {
  const owners = [...new Set(found.map((f) => f.owner))];
  const objects = found.map((f) => `${f.object} (owner ${f.owner})`).join(', ');
  return new GatewayError('APPPKG_SERVICE_FAILED', {
    action: `creation of database ${database} on postgresql at ${server}`,
    reason: `${TEMPLATE} holds objects owned by a role that is neither a superuser nor the admin (${objects}), which CREATE DATABASE would copy into ${database} for this app's own code to call or read`,
    fix: `as a superuser, look at them (\`psql -d ${TEMPLATE}\`) and drop what nobody put there on purpose (\`DROP OWNED BY ${owners.map(quoteIdent).join(', ')}\` in ${TEMPLATE}), or \`ALTER ... OWNER TO postgres\` what is meant to be there; then close ${TEMPLATE} to other roles as PostgreSQL 15 does: \`REVOKE CREATE ON SCHEMA public FROM PUBLIC\` in ${TEMPLATE}`,
  });
}

function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}
