// Server tests over real sockets: the unix socket, TLS with bearer tokens, malformed
// and hostile clients, and the event stream.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <thread>

#include "skiff/api/client.h"
#include "skiff/base/fs.h"
#include "skiff/base/process.h"
#include "skiff/daemon/server.h"
#include "skiff/fake/fake_hypervisor.h"
#include "testutil/temp_dir.h"

namespace skiff::daemon {
namespace {

using json = nlohmann::json;

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(bool tls) {
    service_ = std::make_unique<Service>(Paths(dir_.path()), hv_, events_);
    ASSERT_TRUE(service_->Load().ok());
    api_ = std::make_unique<Api>(*service_);
    ServerOptions o;
    o.unix_path = (dir_.path() / "s.sock").string();
    o.read_timeout_ms = 2000;
    o.max_body_bytes = 64 * 1024;
    o.max_anonymous_clients = max_anonymous_;
    if (tls) {
      cert_ = (dir_.path() / "cert.pem").string();
      std::string key = (dir_.path() / "key.pem").string();
      auto r = RunCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                           "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                           "-keyout", key, "-out", cert_, "-days", "1"});
      ASSERT_TRUE(r.ok() && r->ok()) << (r.ok() ? r->err : r.status().ToString());
      ASSERT_TRUE(WriteFileAtomic(dir_.path() / "tokens",
                                  "0123456789abcdef0123\n"
                                  "readonlytoken-0123456789 readonly\n",
                                  0600)
                      .ok());
      o.tcp_host = "127.0.0.1";
      o.tls_cert = cert_;
      o.tls_key = key;
      o.token_file = (dir_.path() / "tokens").string();
    }
    auto s = Server::Create(*api_, events_, o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    thread_ = std::thread([this] { server_->Run(); });
    uri_ = "unix://" + o.unix_path;
  }

  ~ServerTest() override {
    if (server_) {
      server_->Stop();
      thread_.join();
    }
  }

  int RawConnect() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", (dir_.path() / "s.sock").c_str());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  }

  std::string ReadAll(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }

  testing::TempDir dir_;
  fake::FakeHypervisor hv_;
  EventBus events_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::string uri_, cert_;
  int max_anonymous_ = 20;
};

namespace asio = boost::asio;

// Sends `head` over TLS to the test's server (no certificate check) and returns
// what comes back until the server closes.
std::string TlsExchange(int port, const std::string& head) {
  asio::io_context ioc;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_none);
  asio::ssl::stream<asio::ip::tcp::socket> s(ioc, ctx);
  s.next_layer().connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  s.handshake(asio::ssl::stream_base::client);
  asio::write(s, asio::buffer(head));
  std::string out;
  char buf[4096];
  boost::system::error_code ec;
  while (true) {
    size_t n = s.read_some(asio::buffer(buf), ec);
    if (ec) break;
    out.append(buf, n);
  }
  return out;
}

// A plain TCP connection to `port` that sends nothing.
int IdleTcp(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

// Whether the server closed `fd` within `ms` milliseconds.
bool ClosedWithin(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, ms) <= 0) return false;
  char c;
  return ::read(fd, &c, 1) <= 0;
}

TEST_F(ServerTest, UnixSocketServesJsonAndKeepsAlive) {
  StartServer(false);
  auto c = api::Client::Connect(uri_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  for (int i = 0; i < 3; ++i) {
    auto v = (*c)->Call("GET", "/v1/version");
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ((*v)["hypervisor"], "fake");
  }
  auto e = (*c)->Call("GET", "/v1/domains/nope");
  EXPECT_EQ(e.status().code(), Code::kNotFound);
  EXPECT_EQ(e.status().message(), "domain 'nope' not found");
  auto bad = (*c)->Raw("POST", "/v1/domains", "{oops");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  struct stat st {};
  ASSERT_EQ(::stat((dir_.path() / "s.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST_F(ServerTest, HugeBodyGets413) {
  StartServer(false);
  auto c = api::Client::Connect(uri_);
  ASSERT_TRUE(c.ok());
  std::string body = "{\"xml\":\"" + std::string(200 * 1024, 'a') + "\"}";
  auto r = (*c)->Raw("POST", "/v1/domains", body);
  if (r.ok()) {
    EXPECT_EQ(r->status, 413);
  } else {
    EXPECT_EQ(r.status().code(), Code::kUnavailable);  // closed before we finished sending
  }
}

TEST_F(ServerTest, GarbageAndSilentClientsDoNotStallOthers) {
  StartServer(false);
  int silent = RawConnect();  // never sends anything
  int slow = RawConnect();
  ASSERT_EQ(::write(slow, "GET /v1/ver", 11), 11);  // and stops mid-request
  int garbage = RawConnect();
  const char* junk = "HELLO THERE\r\n\r\n";
  ASSERT_GT(::write(garbage, junk, std::strlen(junk)), 0);
  std::string reply = ReadAll(garbage);
  EXPECT_NE(reply.find("400"), std::string::npos) << reply;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    auto c = api::Client::Connect(uri_);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE((*c)->Call("GET", "/v1/domains").ok());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  // The silent client is dropped after the read timeout.
  EXPECT_EQ(ReadAll(silent), "");
  ::close(silent);
  ::close(slow);
  ::close(garbage);
}

TEST_F(ServerTest, VanishedClientIsHarmless) {
  StartServer(false);
  for (int i = 0; i < 20; ++i) {
    int fd = RawConnect();
    const char* req = "POST /v1/domains HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"x";
    ASSERT_GT(::write(fd, req, std::strlen(req)), 0);
    ::close(fd);
  }
  auto c = api::Client::Connect(uri_);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE((*c)->Call("GET", "/v1/version").ok());
}

TEST_F(ServerTest, EventStreamCarriesLifecycleEvents) {
  StartServer(false);
  std::vector<json> got;
  std::thread reader([&] {
    auto c = api::Client::Connect(uri_);
    ASSERT_TRUE(c.ok());
    Status st = (*c)->Stream("/v1/events", [&](const json& e) {
      got.push_back(e);
      return got.size() < 2;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
  });
  for (int i = 0; i < 200 && events_.SubscriberCountForTest() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto c = api::Client::Connect(uri_);
  ASSERT_TRUE(c.ok());
  std::string xml =
      "<domain type='qemu'><name>ev</name><memory unit='MiB'>64</memory>"
      "<os><type arch='x86_64'>hvm</type></os></domain>";
  ASSERT_TRUE((*c)->Call("POST", "/v1/domains", {{"xml", xml}, {"start", true}}).ok());
  reader.join();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["event"], "defined");
  EXPECT_EQ(got[1]["event"], "started");
  EXPECT_EQ(got[1]["name"], "ev");
}

TEST_F(ServerTest, TlsNeedsTheRightToken) {
  StartServer(true);
  int port = server_->tcp_port();
  ASSERT_GT(port, 0);
  std::string uri = "tls://127.0.0.1:" + std::to_string(port);
  api::ClientOptions good;
  good.ca_file = cert_;
  good.token = "0123456789abcdef0123";
  auto c = api::Client::Connect(uri, good);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE((*c)->Call("GET", "/v1/domains").ok());

  api::ClientOptions wrong = good;
  wrong.token = "not-the-token-at-all";
  auto w = api::Client::Connect(uri, wrong);
  ASSERT_TRUE(w.ok());
  auto r = (*w)->Call("GET", "/v1/domains");
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);

  api::ClientOptions ro = good;
  ro.token = "readonlytoken-0123456789";
  auto rc = api::Client::Connect(uri, ro);
  ASSERT_TRUE(rc.ok());
  EXPECT_TRUE((*rc)->Call("GET", "/v1/domains").ok());
  EXPECT_EQ((*rc)->Call("POST", "/v1/domains", {{"xml", "<domain/>"}}).status().code(),
            Code::kPermissionDenied);

  // A client without the daemon's CA is refused by its own verification.
  api::ClientOptions noca;
  noca.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  noca.token = good.token;
  EXPECT_FALSE(api::Client::Connect(uri, noca).ok());

  // Plain HTTP over TCP gets no HTTP answer.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const char* req = "GET /v1/domains HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_GT(::write(fd, req, std::strlen(req)), 0);
  std::string reply = ReadAll(fd);
  EXPECT_EQ(reply.find("HTTP/1.1 200"), std::string::npos);
  EXPECT_EQ(reply.find("domains"), std::string::npos);
  ::close(fd);
}

TEST_F(ServerTest, TokenIsCheckedOnTheHeadersBeforeAnyBody) {
  StartServer(true);
  // An 8 MiB upload announced without a token: refused at once, the body never
  // read (the server's read timeout is 2 s; a server waiting for the body would
  // answer nothing before it).
  auto start = std::chrono::steady_clock::now();
  std::string reply = TlsExchange(server_->tcp_port(),
                                  "PUT /v1/storage/pools/p/volumes/v/data HTTP/1.1\r\nHost: x\r\n"
                                  "Content-Length: 8388608\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 401", 0), 0U) << reply;
  EXPECT_NE(reply.find("bearer token"), std::string::npos) << reply;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
}

TEST_F(ServerTest, AnonymousConnectionsAreCappedAndRootStillGetsIn) {
  max_anonymous_ = 2;
  StartServer(true);
  const int port = server_->tcp_port();
  int a = IdleTcp(port);
  int b = IdleTcp(port);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // both accepted
  int c = IdleTcp(port);
  EXPECT_TRUE(ClosedWithin(c, 1000)) << "a third anonymous connection was kept";
  EXPECT_FALSE(ClosedWithin(a, 0));
  // The local admin is not affected.
  auto local = api::Client::Connect(uri_);
  ASSERT_TRUE(local.ok());
  EXPECT_TRUE((*local)->Call("GET", "/v1/domains").ok());
  // Once the idle ones are gone, a client with a token gets in.
  ::close(a);
  ::close(b);
  ::close(c);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  api::ClientOptions good;
  good.ca_file = cert_;
  good.token = "0123456789abcdef0123";
  auto t = api::Client::Connect("tls://127.0.0.1:" + std::to_string(port), good);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_TRUE((*t)->Call("GET", "/v1/domains").ok());
}

TEST_F(ServerTest, TcpWithoutTlsIsRefused) {
  service_ = std::make_unique<Service>(Paths(dir_.path()), hv_, events_);
  api_ = std::make_unique<Api>(*service_);
  ServerOptions o;
  o.tcp_host = "127.0.0.1";
  auto s = Server::Create(*api_, events_, o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace skiff::daemon
