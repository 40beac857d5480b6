<?php
// Benchmark: reads the whole request body and answers its length.
$in = fopen('php://input', 'rb');
$total = 0;
while (!feof($in)) {
    $chunk = fread($in, 65536);
    if ($chunk === false) {
        break;
    }
    $total += strlen($chunk);
}
$body = $total . "\n";
header('Content-Type: text/plain');
header('Content-Length: ' . strlen($body));
echo $body;
