<?php
// corpmail's Roundcube settings that differ in docker-compose, read from the environment.
// Included by the official image after roundcube/config.inc.php (mounted as
// /var/roundcube/config/00-corpmail.inc.php; files are included in name order).
// The plugin's keys are documented in plugins/corpmail_autologin/config.inc.php.dist.

// The app over the compose network (nginx answers 404 for /internal/ on the public site).
$config['corpmail_app_url'] = getenv('CORPMAIL_APP_URL') ?: 'http://app:8000';
$config['corpmail_secret'] = (string) getenv('CORPMAIL_AUTOLOGIN_SECRET');
// Mail hosts a redeemed mailbox may name (IMAP and SMTP), comma-separated in the env.
$config['corpmail_allowed_hosts'] = array_values(array_filter(array_map(
    fn ($host) => strtolower(trim($host)),
    explode(',', (string) getenv('CORPMAIL_ALLOWED_MAIL_HOSTS'))
)));

// Secure cookies when the site is served over HTTPS (a TLS-terminating proxy in front).
$config['use_https'] = filter_var(getenv('CORPMAIL_HTTPS') ?: 'false', FILTER_VALIDATE_BOOLEAN);
// Container logs go to stdout (docker-compose logs roundcube).
$config['log_driver'] = 'stdout';
