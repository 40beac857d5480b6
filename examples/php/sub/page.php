<?php
// A script below the document root: /sub/page.php/extra → PATH_INFO "/extra".
require __DIR__ . '/../dump.inc.php';
fcgimux_dump_env('sub/page.php');
