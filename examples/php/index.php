<?php
// The front controller: fcgimux sends here every path under the PHP route
// that names no .php script (route `index = "index.php"`).
require __DIR__ . '/dump.inc.php';
fcgimux_dump_env('index.php');
