<?php
// Benchmark: the smallest useful PHP answer.
$body = "Hello from PHP\n";
header('Content-Type: text/plain');
header('Content-Length: ' . strlen($body));
echo $body;
