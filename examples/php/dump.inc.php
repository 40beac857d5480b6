<?php
// Prints, as JSON, the CGI variables PHP-FPM received for this request, so
// tests can check what fcgimux sent (SCRIPT_NAME, SCRIPT_FILENAME, PATH_INFO...).
function fcgimux_dump_env(string $script): void
{
    $keys = [
        'SCRIPT_NAME', 'SCRIPT_FILENAME', 'PATH_INFO', 'PATH_TRANSLATED', 'PHP_SELF',
        'DOCUMENT_ROOT', 'DOCUMENT_URI', 'REQUEST_URI', 'QUERY_STRING', 'REQUEST_METHOD',
        'CONTENT_TYPE', 'CONTENT_LENGTH', 'REDIRECT_STATUS', 'SERVER_NAME', 'SERVER_PORT',
        'SERVER_PROTOCOL', 'SERVER_SOFTWARE', 'GATEWAY_INTERFACE', 'REMOTE_ADDR', 'REMOTE_PORT',
        'HTTPS',
    ];
    $out = ['script' => $script];
    foreach ($keys as $k) {
        $out[$k] = $_SERVER[$k] ?? null;
    }
    $http = [];
    foreach ($_SERVER as $k => $v) {
        if (strncmp($k, 'HTTP_', 5) === 0) {
            $http[$k] = $v;
        }
    }
    ksort($http);
    $out['http'] = $http;
    $out['get'] = $_GET;
    $body = file_get_contents('php://input');
    $out['body_length'] = strlen($body);
    $out['body_sha256'] = hash('sha256', $body);
    header('Content-Type: application/json');
    header('X-Script: ' . $script);
    echo json_encode($out, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES), "\n";
}
