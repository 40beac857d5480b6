<?php
// For people: PHP's own page of everything it knows about this request.
phpinfo();
