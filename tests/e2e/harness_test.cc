// The harness checks itself and the workers, without fcgimux: when an e2e
// test fails, these say whether the fault is in the gateway or the setup.
#include <catch2/catch.hpp>

#include <signal.h>

#include "harness.h"

using namespace e2e;

TEST_CASE("harness: sha256 matches the FIPS 180-4 examples", "[e2e][harness]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // 55, 56, 63 and 64 bytes: the padding edge cases.
  CHECK(sha256_hex(std::string(55, 'a')) ==
        "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(sha256_hex(std::string(56, 'a')) ==
        "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(sha256_hex(std::string(64, 'a')) ==
        "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  CHECK(sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("harness: Child stops its process by PID and reaps it", "[e2e][harness]") {
  TempDir dir;
  Child c = Child::spawn({"sleep", "60"}, dir / "sleep.log");
  const pid_t pid = c.pid();
  REQUIRE(c.running());
  CHECK(c.stop(2000ms) == 128 + SIGTERM);
  CHECK(::kill(pid, 0) != 0); // gone and reaped

  // One that ignores SIGTERM is killed after the grace period.
  Child stubborn =
      Child::spawn({"bash", "-c", "trap '' TERM; echo ready; sleep 60"}, dir / "stubborn.log");
  REQUIRE(eventually([&] { return stubborn.log_text().find("ready") != std::string::npos; }));
  CHECK(stubborn.stop(300ms) == 128 + SIGKILL);
}

TEST_CASE("harness: a sanitizer report in a child's log is found", "[e2e][harness]") {
  TempDir dir;
  Child clean = Child::spawn({"bash", "-c", "echo all fine"}, dir / "clean.log");
  REQUIRE(clean.wait_exit(5000ms));
  CHECK(clean.sanitizer_report().empty());
  for (const char *report :
       {"==7==ERROR: AddressSanitizer: heap-use-after-free on address 0x1",
        "==7==ERROR: LeakSanitizer: detected memory leaks",
        "x.cc:3:5: runtime error: signed integer overflow"}) {
    INFO(report);
    Child bad = Child::spawn({"bash", "-c", std::string("echo before; echo '") + report + "'"},
                             dir / "bad.log");
    REQUIRE(bad.wait_exit(5000ms));
    CHECK(bad.sanitizer_report().find(report) == 0);
    fs::resize_file(bad.log(), 0); // or its stop() would fail this test
  }
}

TEST_CASE("harness: JSON helper reads strings and arrays and numbers and escapes",
          "[e2e][harness]") {
  const std::string j = R"({"a": "x\"y", "n": null, "arr": ["first", "second"], "len": "42",
    "num": 17, "u": "\u00e9\ud83d\ude00", "path_info": "/p", "path": "/q"})";
  CHECK(json_string(j, "a") == "x\"y");
  CHECK_FALSE(json_string(j, "n"));
  CHECK_FALSE(json_string(j, "missing"));
  CHECK(json_string(j, "arr") == "first");
  CHECK(json_int(j, "len") == 42);
  CHECK(json_int(j, "num") == 17);
  CHECK(json_string(j, "u") == "\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(json_string(j, "path") == "/q");
}

TEST_CASE("harness: uWSGI serves the Django example over FastCGI", "[e2e][harness][django]") {
  TempDir dir;
  Worker w = spawn_uwsgi_django(dir, "django-direct");
  FcgiResult r = fcgi_request(w.port, {{"REQUEST_METHOD", "GET"},
                                       {"SCRIPT_NAME", "/app"},
                                       {"PATH_INFO", "/env"},
                                       {"QUERY_STRING", "a=1"},
                                       {"REQUEST_URI", "/app/env?a=1"},
                                       {"SERVER_NAME", "example.test"},
                                       {"SERVER_PORT", "80"},
                                       {"SERVER_PROTOCOL", "HTTP/1.1"},
                                       {"REMOTE_ADDR", "127.0.0.1"},
                                       {"HTTP_HOST", "example.test"}});
  REQUIRE(r.ended);
  INFO(r.stdout_data);
  CHECK(r.stdout_data.rfind("Status: 200", 0) == 0);
  CHECK(json_string(r.stdout_data, "reverse_env") == "/app/env");
  CHECK(json_string(r.stdout_data, "worker") == "django-direct");

  // The session table exists (the database was migrated before the start).
  FcgiResult login = fcgi_request(w.port, {{"REQUEST_METHOD", "GET"},
                                           {"SCRIPT_NAME", ""},
                                           {"PATH_INFO", "/login"},
                                           {"QUERY_STRING", "user=alice"},
                                           {"SERVER_NAME", "example.test"},
                                           {"SERVER_PORT", "80"},
                                           {"SERVER_PROTOCOL", "HTTP/1.1"}});
  INFO(login.stdout_data);
  CHECK(login.stdout_data.find("sessionid=") != std::string::npos);

  // An upload arrives whole.
  const std::string body(300000, 'b');
  FcgiResult up = fcgi_request(w.port,
                               {{"REQUEST_METHOD", "POST"},
                                {"SCRIPT_NAME", ""},
                                {"PATH_INFO", "/upload"},
                                {"CONTENT_LENGTH", std::to_string(body.size())},
                                {"CONTENT_TYPE", "application/octet-stream"},
                                {"SERVER_NAME", "example.test"},
                                {"SERVER_PORT", "80"},
                                {"SERVER_PROTOCOL", "HTTP/1.1"}},
                               body);
  INFO(up.stdout_data);
  CHECK(json_string(up.stdout_data, "sha256") == sha256_hex(body));
}

TEST_CASE("harness: PHP-FPM serves the PHP example over FastCGI", "[e2e][harness][php]") {
  TempDir dir;
  Worker w = spawn_php_fpm(dir);
  const std::string root = (source_dir() / "examples/php").string();
  FcgiResult r = fcgi_request(w.port, {{"REQUEST_METHOD", "GET"},
                                       {"SCRIPT_NAME", "/sub/page.php"},
                                       {"SCRIPT_FILENAME", root + "/sub/page.php"},
                                       {"PATH_INFO", "/extra"},
                                       {"DOCUMENT_ROOT", root},
                                       {"REQUEST_URI", "/sub/page.php/extra"},
                                       {"QUERY_STRING", ""},
                                       {"REDIRECT_STATUS", "200"},
                                       {"SERVER_PROTOCOL", "HTTP/1.1"}});
  REQUIRE(r.ended);
  INFO(r.stdout_data);
  CHECK(json_string(r.stdout_data, "script") == "sub/page.php");
  CHECK(json_string(r.stdout_data, "PATH_INFO") == "/extra");
}

TEST_CASE("harness: fault_worker modes do what they say", "[e2e][harness][fault]") {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> params = {{"REQUEST_METHOD", "GET"}};

  Worker ok = spawn_fault_worker(dir, "--ok");
  FcgiResult r = fcgi_request(ok.port, params);
  CHECK(r.ended);
  CHECK(r.stdout_data.find("\r\n\r\nok\n") != std::string::npos);

  Worker garbage = spawn_fault_worker(dir, "--garbage");
  CHECK_THROWS(fcgi_request(garbage.port, params, "", 1000ms)); // never a valid END_REQUEST

  Worker stall = spawn_fault_worker(dir, "--stall");
  CHECK_THROWS_WITH(fcgi_request(stall.port, params, "", 300ms), Catch::Contains("timed out"));

  Worker closer = spawn_fault_worker(dir, "--close");
  CHECK_FALSE(fcgi_request(closer.port, params).ended);

  Worker mid = spawn_fault_worker(dir, "--close-mid-stdout");
  FcgiResult m = fcgi_request(mid.port, params);
  CHECK_FALSE(m.ended);
  CHECK(m.stdout_data.find("Content-Length: 100000") != std::string::npos);

  Worker err = spawn_fault_worker(dir, "--stderr");
  FcgiResult e = fcgi_request(err.port, params);
  CHECK(e.ended);
  CHECK(e.stderr_data.size() >= 64 * 1024);
}
