<?php
// corpmail's Roundcube settings for docker-compose (included by the official image's
// entrypoint from /var/roundcube/config). Every value comes from the environment.

// The autologin plugin (roundcube/plugins/corpmail_autologin; keys in its config.inc.php.dist).
$config['corpmail_app_url'] = getenv('CORPMAIL_APP_URL') ?: 'http://app:8000';
$config['corpmail_secret'] = getenv('CORPMAIL_AUTOLOGIN_SECRET');
// IMAP hosts a redeemed mailbox may name; anything else is refused.
$config['corpmail_allowed_hosts'] = array_values(array_filter(array_map(
    'trim', explode(',', (string) getenv('CORPMAIL_ALLOWED_MAIL_HOSTS'))
)));

// Served by nginx under /webmail/ on the CRM's own site (same-site cookies).
$config['request_path'] = '/webmail/';
$config['session_samesite'] = 'Lax';
$config['use_https'] = filter_var(getenv('CORPMAIL_HTTPS') ?: 'false', FILTER_VALIDATE_BOOLEAN);

// Sending through the mailbox's server with the mailbox's own credentials; copies to Sent.
$config['smtp_user'] = '%u';
$config['smtp_pass'] = '%p';
$config['sent_mbox'] = 'Sent';
$config['save_sent_mail'] = true;
