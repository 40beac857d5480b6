<?php
// For the health tests (tests/e2e/health_saturation_test.cc): sleeps
// ?ms=N milliseconds (at most 60000), then answers which PHP-FPM child ran it.
$ms = max(0, min(60000, intval($_GET['ms'] ?? '0')));
// When each run starts and ends, in the pool's PHP error log (for post-mortems:
// how many ran at once).
error_log(sprintf("sleep.php start=%.3f id=%s", microtime(true), $_GET['id'] ?? '-'));
usleep($ms * 1000);
error_log(sprintf("sleep.php end=%.3f id=%s", microtime(true), $_GET['id'] ?? '-'));
header('Content-Type: text/plain');
header('X-Worker: php-fpm-' . getmypid());
echo "slept $ms ms in ", getmypid(), " id=", ($_GET['id'] ?? '-'), "\n";
