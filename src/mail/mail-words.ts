// What `mail retry` and `mail delete` say to the one who asked, in the asker's words: the CLI's
// commands came through the admin listener, and their refusals name `--apps`, `apppkg-gateway
// status` and running the command again; a program that called gateway.retryMail() typed none
// of them, and is told of `apps`, `gateway.status()` and calling again (SPEC 5.7).
import type { ErrorDetails } from '../errors.js';

export interface MailWords {
  /** The option that names the apps directory. */
  apps: string;
  /** The option that names the environment file. */
  environment: string;
  /** What shows the mail still waiting, with its reason. */
  status: string;
  /** What to do once the problem is mended. */
  again: string;
  /** What to do for the dead letters a delete left (the unlink failed), once mended. */
  deleteAgain: string;
  /** What the gateway's log names as having asked for a retry, and for a delete: whose action it was. */
  retryAsked: string;
  deleteAsked: string;
  /**
   * The details errors.ts's mail fixes read for their words (`statusCall`, `deadListed`,
   * `retryAllCall`); none for its own, the CLI's.
   */
  fixDetails: ErrorDetails;
}

/** The CLI's, which its admin commands' requests are told. */
export const CLI_MAIL_WORDS: MailWords = {
  apps: '--apps',
  environment: '--environment',
  status: '`apppkg-gateway status`',
  again: 'run the command again',
  deleteAgain: 'run the command again',
  retryAsked: 'mail retry',
  deleteAsked: 'mail delete',
  fixDetails: {},
};

/** A program's, given the option names and the status call of its gateway (OptionNames). */
export function programMailWords(names: { apps: string; environment: string; status: string }): MailWords {
  return {
    ...names,
    again: 'call it again',
    deleteAgain: 'call deleteMail() again',
    // An administrator reading the log looks for the CLI command that did it: a program ran none.
    retryAsked: 'retryMail()',
    deleteAsked: 'deleteMail()',
    fixDetails: {
      statusCall: names.status,
      deadListed: 'its `mail.dead` holds the newest 50',
      retryAllCall: '`gateway.retryMail({ all: true, app: APP })`',
    },
  };
}
