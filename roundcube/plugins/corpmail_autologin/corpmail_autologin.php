<?php

/**
 * corpmail autologin: opens Roundcube logged into a mailbox the CRM granted.
 *
 * The CRM posts a single-use token to ?_task=login&_action=corpmail-autologin; this plugin
 * redeems it server-to-server at <corpmail_app_url>/internal/autologin/redeem (shared
 * secret + the browser's CRM session cookie) and logs in with the answer. On every later
 * request it asks <app>/internal/autologin/check whether the CRM still allows the session
 * (CRM logout and a revoked grant end it). It never reads corpmail's code or database and
 * never takes a mail host from the request: hosts come from the app and must be in
 * corpmail_allowed_hosts. Settings: config.inc.php.dist.
 *
 * OAuth 2.0 mailboxes: the redeem answer carries a bearer token instead of a password
 * (auth "oauth2"); IMAP and SMTP log in with XOAUTH2. The plugin never holds a refresh
 * token: after "renew_in" seconds it asks <app>/internal/autologin/token for a valid
 * access token (the app renews it with the provider) before connecting again.
 *
 * No $task: the plugin must act on every task (a plugin limited to 'login' is not loaded
 * while someone is logged in).
 */
class corpmail_autologin extends rcube_plugin
{
    const ACTION = 'corpmail-autologin';
    const CHECK_CACHE_MAX = 5;  // seconds a positive check answer may be reused
    const OAUTH = 'oauth2';     // the redeem answer's "auth" of an OAuth 2.0 mailbox

    /** @var array|null The redeem answer of this request (never stored whole) */
    private $redeemed;

    /** @var string|null Where logout sends the browser (read before the session dies) */
    private $crm_url;

    /** @var bool */
    private $config_loaded = false;

    public function init()
    {
        $this->add_hook('startup', [$this, 'startup']);
        $this->add_hook('authenticate', [$this, 'authenticate']);
        $this->add_hook('login_after', [$this, 'login_after']);
        $this->add_hook('login_failed', [$this, 'login_failed']);
        $this->add_hook('logout_after', [$this, 'logout_after']);
        $this->add_hook('smtp_connect', [$this, 'smtp_connect']);
        $this->add_hook('storage_connect', [$this, 'storage_connect']);
    }

    // ------------------------------------------------------------------ hooks

    /** A token arriving: a fresh login. Otherwise: is this session still allowed? */
    public function startup($args)
    {
        $rcmail = rcmail::get_instance();

        if ($args['task'] == 'login' && $args['action'] == self::ACTION) {
            // The token only ever comes in a POST body, never in a URL.
            $token = rcube_utils::get_input_string('_corpmail_token', rcube_utils::INPUT_POST);

            // A new token replaces whatever session this browser had (another mailbox,
            // another CRM user): Roundcube itself only does this for a valid form login.
            $rcmail->kill_session();

            if ($token === '' || strlen($token) > 4096) {
                $this->refuse('invalid');
            }

            $started = microtime(true);
            $answer  = $this->call_app('/internal/autologin/redeem', [
                'token'       => $token,
                'crm_session' => $this->crm_cookie(),
            ]);
            if (empty($answer['ok'])) {
                $this->refuse(isset($answer['reason']) ? $answer['reason'] : 'invalid');
            }

            $imap = $this->mail_uri(isset($answer['imap']) ? $answer['imap'] : null, 'imap');
            $smtp = $this->mail_uri(isset($answer['smtp']) ? $answer['smtp'] : null, 'smtp');
            $oauth = isset($answer['auth']) && $answer['auth'] === self::OAUTH;
            $secret = $oauth ? (isset($answer['access_token']) ? $answer['access_token'] : null)
                : (isset($answer['password']) ? $answer['password'] : null);
            if ($imap === null || $smtp === null || empty($answer['login'])
                || !is_string($secret) || ($oauth && $secret === '') || empty($answer['session_ref'])
            ) {
                $this->refuse('invalid');
            }

            rcube::write_log('corpmail_autologin', sprintf('redeemed for %s in %.0f ms',
                $answer['login'], (microtime(true) - $started) * 1000));

            $answer['imap_uri'] = $imap;
            $answer['smtp_uri'] = $smtp;
            $this->redeemed     = $answer;

            $args['task']   = 'login';
            $args['action'] = 'login';

            return $args;
        }

        if ($args['task'] == 'logout') {
            $this->crm_url = $this->session_crm_url();
            return $args;
        }

        if (!empty($_SESSION['user_id'])) {
            $this->check_session($args);
        }
        else if (!empty($_SESSION['corpmail_ended']) && empty($rcmail->output->ajax_call)) {
            // An XHR found the session ended; the next page load says so clearly.
            $rcmail->session->remove('corpmail_ended');
            $this->refuse('ended');
        }

        return $args;
    }

    /** Fill the login with the redeemed mailbox; refuse any other (form) login. */
    public function authenticate($args)
    {
        if ($this->redeemed === null) {
            if (!$this->conf('corpmail_allow_form_login', false)) {
                $args['abort'] = true;
                $args['valid'] = false;
            }
            return $args;
        }

        $args['user']        = (string) $this->redeemed['login'];
        $args['pass']        = $this->is_oauth($this->redeemed)
            ? $this->bearer($this->redeemed['access_token'])  // what XOAUTH2 sends as auth=
            : (string) $this->redeemed['password'];
        $args['host']        = $this->redeemed['imap_uri'];
        $args['cookiecheck'] = false;  // the first request carries no Roundcube cookie
        $args['valid']       = true;   // there is no login-form request token: ours was the token
        $args['abort']       = false;

        $language = $this->language();
        if ($language) {
            $_SESSION['language'] = $language;  // what rcmail::login() gives the new user
        }

        return $args;
    }

    /** Remember the autologin session, set the CRM user's language, open inbox or compose. */
    public function login_after($args)
    {
        if ($this->redeemed === null) {
            return $args;
        }

        $rcmail = rcmail::get_instance();
        $answer = $this->redeemed;
        rcube::write_log('corpmail_autologin', sprintf('logged in %s (%.0f ms since the request began)',
            $answer['login'], (microtime(true) - RCMAIL_START) * 1000));

        $_SESSION['corpmail_ref']        = (string) $answer['session_ref'];
        $_SESSION['corpmail_smtp']       = $answer['smtp_uri'];
        $_SESSION['corpmail_crm_url']    = $this->safe_path(isset($answer['crm_url']) ? $answer['crm_url'] : '/');
        $_SESSION['corpmail_mailbox']    = isset($answer['mailbox_name']) ? (string) $answer['mailbox_name'] : '';
        $_SESSION['corpmail_checked_at'] = time();
        $_SESSION['corpmail_checked_cookie'] = hash('sha256', $this->crm_cookie());
        if ($this->is_oauth($answer)) {
            $_SESSION['corpmail_oauth']    = 1;
            $_SESSION['corpmail_renew_at'] = $this->renew_at($answer);
        }

        $language = $this->language();
        if ($language) {
            $rcmail->load_language($language);
            if ($rcmail->user && $rcmail->user->ID) {
                $rcmail->user->save_prefs([]);  // stores $_SESSION['language'] as the user's
            }
        }

        $compose = isset($answer['compose']) && is_array($answer['compose']) ? $answer['compose'] : null;
        if ($compose) {
            $redirect = ['_task' => 'mail', '_action' => 'compose'];
            if (!empty($compose['to'])) {
                $redirect['_to'] = (string) $compose['to'];
            }
            if (!empty($compose['subject'])) {
                $redirect['_subject'] = (string) $compose['subject'];
            }
            return $redirect;
        }

        return ['_task' => 'mail', '_mbox' => 'INBOX'];
    }

    /** The mail server refused the redeemed login: the CRM's page, not Roundcube's form. */
    public function login_failed($args)
    {
        if ($this->redeemed !== null) {
            rcube::write_log('corpmail_autologin', 'IMAP login failed for ' . $this->redeemed['login']);
            $this->refuse('login_failed');
        }

        return $args;
    }

    /** After Roundcube's logout: back to the CRM. */
    public function logout_after($args)
    {
        $url = $this->crm_url ?: $this->safe_path($this->conf('corpmail_crm_url', '/'));
        $this->send_browser($this->public_url($url));
    }

    /** Send with the mailbox's server (from the redeem answer) and its own credentials. */
    public function smtp_connect($args)
    {
        if (!empty($_SESSION['corpmail_smtp'])) {
            $args['smtp_host'] = $_SESSION['corpmail_smtp'];
        }
        if (!empty($_SESSION['corpmail_oauth'])) {
            $this->renew_token_when_due();
            $args['smtp_user']      = '%u';
            $args['smtp_pass']      = '%p';  // the session's "Bearer <token>"
            $args['smtp_auth_type'] = 'XOAUTH2';
        }

        return $args;
    }

    /** OAuth 2.0 mailboxes log in to IMAP with XOAUTH2 and a token that is still valid. */
    public function storage_connect($args)
    {
        if ($this->redeemed !== null ? $this->is_oauth($this->redeemed) : !empty($_SESSION['corpmail_oauth'])) {
            $args['auth_type'] = 'XOAUTH2';
            if ($this->redeemed === null && ($token = $this->renew_token_when_due())) {
                $args['pass'] = $token;
            }
        }

        return $args;
    }

    // ------------------------------------------------------------------ helpers

    /**
     * When the token's renewal time has come, ask the app for a valid one and keep it as
     * the session's password (what IMAP and SMTP log in with). The new "Bearer <token>",
     * or null when nothing was due. A refusal ends the session.
     */
    private function renew_token_when_due()
    {
        if (empty($_SESSION['corpmail_ref'])
            || (isset($_SESSION['corpmail_renew_at']) && time() < (int) $_SESSION['corpmail_renew_at'])
        ) {
            return null;
        }

        $answer = $this->call_app('/internal/autologin/token', [
            'session_ref' => (string) $_SESSION['corpmail_ref'],
            'crm_session' => $this->crm_cookie(),
        ]);
        if (empty($answer['ok']) || empty($answer['access_token']) || !is_string($answer['access_token'])) {
            rcube::write_log('corpmail_autologin', 'no access token for ' . $_SESSION['username']);
            $this->end_session();
        }

        $rcmail = rcmail::get_instance();
        $bearer = $this->bearer($answer['access_token']);
        $_SESSION['password']          = $rcmail->encrypt($bearer);
        $_SESSION['corpmail_renew_at'] = $this->renew_at($answer);
        rcube::write_log('corpmail_autologin', 'access token renewed for ' . $_SESSION['username']);

        return $bearer;
    }

    private function is_oauth($answer)
    {
        return is_array($answer) && isset($answer['auth']) && $answer['auth'] === self::OAUTH;
    }

    /** XOAUTH2's auth= value (Roundcube and Net_SMTP send the password there). */
    private function bearer($token)
    {
        return 'Bearer ' . (string) $token;
    }

    /** When to ask the app for a token again: its "renew_in" seconds from now. */
    private function renew_at($answer)
    {
        $renew_in = isset($answer['renew_in']) ? (int) $answer['renew_in'] : 60;

        return time() + max(1, $renew_in);
    }

    /** Ask the app whether this session may go on; end it when not. */
    private function check_session($args)
    {
        $rcmail = rcmail::get_instance();

        if (empty($_SESSION['corpmail_ref'])) {
            if ($this->conf('corpmail_allow_form_login', false)) {
                return;
            }
            $this->end_session();  // not opened from the CRM
        }

        // A positive answer is reused for a few seconds, but only with the same CRM cookie:
        // a CRM logout (or another CRM login) changes the cookie and is seen at once.
        $cache  = min(self::CHECK_CACHE_MAX, max(0, (int) $this->conf('corpmail_check_cache_seconds', self::CHECK_CACHE_MAX)));
        $last   = isset($_SESSION['corpmail_checked_at']) ? (int) $_SESSION['corpmail_checked_at'] : 0;
        $cookie = hash('sha256', $this->crm_cookie());
        if ($cache > 0 && $last <= time() && time() - $last < $cache
            && isset($_SESSION['corpmail_checked_cookie']) && hash_equals($_SESSION['corpmail_checked_cookie'], $cookie)
        ) {
            return;
        }

        $answer = $this->call_app('/internal/autologin/check', [
            'session_ref' => (string) $_SESSION['corpmail_ref'],
            'crm_session' => $this->crm_cookie(),
        ]);
        if (empty($answer['ok'])) {
            $this->end_session();
        }

        $_SESSION['corpmail_checked_at']     = time();
        $_SESSION['corpmail_checked_cookie'] = $cookie;
    }

    /** Kill the Roundcube session and send the browser to the refusal page ("ended"). */
    private function end_session()
    {
        $rcmail = rcmail::get_instance();
        $rcmail->kill_session();
        if (!empty($rcmail->output->ajax_call)) {
            $_SESSION['corpmail_ended'] = 1;  // in case the XHR's redirect is not followed
        }
        $this->refuse('ended');
    }

    /** Redirect to the app's refusal page; never returns. */
    private function refuse($reason)
    {
        $reason = preg_replace('/[^a-z_]/', '', strtolower((string) $reason)) ?: 'invalid';
        rcube::write_log('corpmail_autologin', "refused: $reason from " . rcube_utils::remote_ip());
        $this->send_browser($this->public_url('/mail/refused?reason=' . urlencode($reason)));
    }

    /** Navigate the whole window: a Location for pages, a command for XHR, top for frames. */
    private function send_browser($url)
    {
        $rcmail = rcmail::get_instance();

        if (!empty($rcmail->output->ajax_call)) {
            $rcmail->output->command('redirect', $url);
            $rcmail->output->send();
            exit;
        }

        if (!empty($_REQUEST['_framed'])) {
            header('Content-Type: text/html; charset=utf-8');
            echo '<!DOCTYPE html><html><head><script>window.top.location.href = '
                . json_encode($url) . ';</script></head><body><a href="'
                . htmlspecialchars($url, ENT_QUOTES) . '" target="_top">&rarr;</a></body></html>';
            exit;
        }

        header('Location: ' . $url, true, 302);
        header('Cache-Control: no-store');
        exit;
    }

    /**
     * Roundcube's host URI (tls://h:p, ssl://h:p or h:p) for an imap/smtp part of the
     * redeem answer, or null when it is malformed or the host is not allow-listed.
     */
    private function mail_uri($part, $what)
    {
        if (!is_array($part) || empty($part['host']) || empty($part['port'])) {
            return null;
        }

        $host     = strtolower(trim((string) $part['host']));
        $port     = (int) $part['port'];
        $security = isset($part['security']) ? (string) $part['security'] : 'none';
        $allowed  = array_map('strtolower', array_map('trim', (array) $this->conf('corpmail_allowed_hosts', [])));

        if (!in_array($host, $allowed, true) || $port < 1 || $port > 65535
            || !preg_match('/^[a-z0-9.\-:\[\]]+$/', $host)
        ) {
            rcube::write_log('corpmail_autologin', "refused $what host not in corpmail_allowed_hosts: $host");
            return null;
        }

        $schemes = ['none' => '', 'ssl' => 'ssl://', 'starttls' => 'tls://'];
        if (!isset($schemes[$security])) {
            return null;
        }

        return $schemes[$security] . $host . ':' . $port;
    }

    /** POST form fields to the app with the shared secret; the decoded JSON answer. */
    private function call_app($path, array $fields)
    {
        $base   = rtrim((string) $this->conf('corpmail_app_url', ''), '/');
        $secret = (string) $this->conf('corpmail_secret', '');
        if ($base === '' || $secret === '') {
            rcube::write_log('corpmail_autologin', 'corpmail_app_url or corpmail_secret is not set');
            return ['ok' => false, 'reason' => 'unavailable'];
        }

        $context = stream_context_create([
            'http' => [
                'method'          => 'POST',
                'header'          => "Content-Type: application/x-www-form-urlencoded\r\n"
                    . "Accept: application/json\r\n"
                    . 'X-Corpmail-Secret: ' . $secret . "\r\n",
                'content'         => http_build_query($fields),
                'timeout'         => (float) $this->conf('corpmail_app_timeout', 10),
                'ignore_errors'   => true,  // 4xx answers carry the reason
                'follow_location' => 0,
                'protocol_version' => 1.1,
            ],
        ]);

        $body = @file_get_contents($base . $path, false, $context);
        if ($body === false) {
            rcube::write_log('corpmail_autologin', "the app did not answer at $base$path");
            return ['ok' => false, 'reason' => 'unavailable'];
        }

        $data = json_decode($body, true);
        if (!is_array($data)) {
            rcube::write_log('corpmail_autologin', "the app's answer at $path is not JSON");
            return ['ok' => false, 'reason' => 'unavailable'];
        }

        $status = 0;
        if (!empty($http_response_header[0]) && preg_match('/^HTTP\/\S+\s+(\d{3})/', $http_response_header[0], $m)) {
            $status = (int) $m[1];
        }
        if ($status != 200) {
            $data['ok'] = false;
        }

        return $data;
    }

    /** The redeem answer's language (Roundcube's form, e.g. pl_PL), or null. */
    private function language()
    {
        $language = isset($this->redeemed['language']) ? (string) $this->redeemed['language'] : '';

        return preg_match('/^[a-z]{2,3}(_[A-Z]{2})?$/', $language) ? $language : null;
    }

    /** The browser's CRM session cookie (same site, path /). */
    private function crm_cookie()
    {
        $name = (string) $this->conf('corpmail_crm_cookie', 'session');

        return isset($_COOKIE[$name]) ? (string) $_COOKIE[$name] : '';
    }

    private function session_crm_url()
    {
        return isset($_SESSION['corpmail_crm_url']) ? $_SESSION['corpmail_crm_url'] : null;
    }

    /** Only a local path (no scheme, no //host) may come back from the app. */
    private function safe_path($path)
    {
        $path = (string) $path;

        return (strpos($path, '/') === 0 && strpos($path, '//') !== 0 && strpos($path, '/\\') !== 0) ? $path : '/';
    }

    /** A path of the CRM as the browser reaches it (corpmail_public_url, default: this site). */
    private function public_url($path)
    {
        return rtrim((string) $this->conf('corpmail_public_url', ''), '/') . $path;
    }

    private function conf($key, $default = null)
    {
        if (!$this->config_loaded) {
            $this->load_config();  // config.inc.php here, or corpmail_autologin.inc.php in config/
            $this->config_loaded = true;
        }

        return rcmail::get_instance()->config->get($key, $default);
    }
}
