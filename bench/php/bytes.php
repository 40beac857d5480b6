<?php
// Benchmark: ?n=N bytes (default 1 MiB) with Content-Length, written 64 KiB at a time.
$n = max(0, (int)($_GET['n'] ?? 1048576));
header('Content-Type: application/octet-stream');
header('Content-Length: ' . $n);
$block = str_repeat('abcdefghijklmnopqrstuvwxyz012345', 2048);
while ($n > 0) {
    $k = min($n, strlen($block));
    echo $k === strlen($block) ? $block : substr($block, 0, $k);
    $n -= $k;
}
