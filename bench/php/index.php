<?php
// Front controller for paths that name no script (fcgimux's `index`).
header('Content-Type: text/plain');
echo "bench index\n";
