<?php
/*
 * corpmail's Roundcube settings (overrides of Roundcube's defaults.inc.php).
 *
 * Included after the per-install values, which the installation sets itself:
 *   db_dsnw, des_key (24 characters, stable per installation), log_dir, temp_dir,
 *   imap_host (the login form's fallback only; autologin takes the host from the app,
 *   checked against the plugin's corpmail_allowed_hosts).
 * Locally corpmail.devstack.webmail generates config/config.inc.php, which sets those and
 * requires this file. The plugin's own keys are in
 * plugins/corpmail_autologin/config.inc.php.dist.
 * This file never resets $config: it only sets keys.
 */

// The autologin plugin; Debian's / the image's plugins stay available to add here.
$config['plugins'] = array_values(array_unique(array_merge(
    isset($config['plugins']) ? (array) $config['plugins'] : [],
    ['corpmail_autologin']
)));

$config['product_name'] = 'corpmail webmail';
$config['skin'] = 'elastic';
$config['support_url'] = '';
$config['enable_installer'] = false;
$config['enable_spellcheck'] = false;

// Served by nginx under /webmail/ of the CRM's own site: same site, so the plugin gets
// the CRM's session cookie ("session", path /). Roundcube's own cookie has its own name
// and path so the two never collide.
$config['request_path'] = '/webmail/';
$config['session_name'] = 'roundcube_sessid';
$config['session_auth_name'] = 'roundcube_sessauth';
$config['session_path'] = '/webmail/';
$config['session_samesite'] = 'Lax';   // as the CRM's SESSION_COOKIE_SAMESITE
$config['session_storage'] = 'db';
// Minutes of inactivity; the CRM session bounds it anyway (the plugin checks the CRM
// session on every request and ends this one when the CRM's has ended).
$config['session_lifetime'] = 30;
$config['ip_check'] = false;
$config['x_frame_options'] = 'sameorigin';

// Failed logins per minute and user before Roundcube locks the form (its default, 3).
// Refused autologin tokens never reach Roundcube's login, so they do not count; an IMAP
// login failure after a redeemed token does.
$config['login_rate_limit'] = 3;
$config['login_autocomplete'] = 0;
// OAuth 2.0 mailboxes log in with "Bearer <access token>" as the password; Microsoft's
// tokens are JWTs of 1.5-3 KB, past Roundcube's default limit of 1024.
$config['login_password_maxlen'] = 8192;
$config['auto_create_user'] = true;

// Language: none forced here (a forced one would override every user's): the plugin sets
// the CRM user's language (from the redeem answer) at login and stores it as the
// Roundcube user's; the login page follows the browser.
$config['language'] = null;

// Sending: the plugin sets smtp_host per session from the app's answer (tls:// ssl://
// or plain host:port); the mailbox's own credentials; a copy of sent mail in Sent.
$config['smtp_user'] = '%u';
$config['smtp_pass'] = '%p';
$config['sent_mbox'] = 'Sent';
$config['save_sent_mail'] = true;
$config['drafts_mbox'] = 'Drafts';
$config['trash_mbox'] = 'Trash';
$config['junk_mbox'] = 'Junk';
$config['create_default_folders'] = true;

// Logs to files in log_dir (never the system log); no passwords in them.
$config['log_driver'] = 'file';
$config['log_logins'] = true;
$config['smtp_log'] = false;
$config['imap_debug'] = false;
$config['smtp_debug'] = false;
$config['debug_level'] = 1;
