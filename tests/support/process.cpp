#include "support/process.hpp"

#include <signal.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>

#include "json/json.hpp"

extern char** environ;

namespace babysea::testing {
namespace {

int spawn(const std::vector<std::string>& argv, int* out_fd) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    throw std::runtime_error("cannot start " + argv[0]);
  }
  *out_fd = fds[0];
  return pid;
}

std::string drain(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  return out;
}

int wait_raw(int pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

int wait_for(int pid) {
  const int status = wait_raw(pid);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

}  // namespace

std::vector<std::map<std::string, std::string>> run_json_lines(const std::vector<std::string>& argv) {
  ProcessOutput r = run_process(argv);
  if (r.exit_code != 0) throw std::runtime_error(argv[0] + " exited with " + std::to_string(r.exit_code));
  std::vector<std::map<std::string, std::string>> lines;
  std::size_t pos = 0;
  while (pos < r.out.size()) {
    std::size_t nl = r.out.find('\n', pos);
    std::string line = r.out.substr(pos, nl - pos);
    pos = nl == std::string::npos ? r.out.size() : nl + 1;
    if (line.empty()) continue;
    auto padded = json::pad(line);
    simdjson::ondemand::document doc;
    simdjson::ondemand::object obj;
    if (json::thread_parser().iterate(padded).get(doc) != simdjson::SUCCESS ||
        doc.get_object().get(obj) != simdjson::SUCCESS)
      throw std::runtime_error("oracle line is not a JSON object: " + line.substr(0, 200));
    std::map<std::string, std::string> fields;
    for (auto field : obj) {
      std::string_view key, value;
      if (field.unescaped_key().get(key) != simdjson::SUCCESS || field.value().get_string().get(value) != simdjson::SUCCESS)
        throw std::runtime_error("oracle field is not a string: " + line.substr(0, 200));
      fields.emplace(std::string(key), std::string(value));
    }
    lines.push_back(std::move(fields));
  }
  return lines;
}

ProcessOutput run_process(const std::vector<std::string>& argv) {
  int fd;
  int pid = spawn(argv, &fd);
  ProcessOutput r;
  r.out = drain(fd);
  close(fd);
  r.exit_code = wait_for(pid);
  return r;
}

Child::Child(const std::vector<std::string>& argv) { pid_ = spawn(argv, &fd_); }

Child::~Child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait_for(pid_);
  }
  if (fd_ >= 0) close(fd_);
}

bool Child::wait_for_output(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return false;
  char buf[4096];
  ssize_t n = read(fd_, buf, sizeof buf);
  if (n <= 0) return false;
  early_.append(buf, static_cast<std::size_t>(n));
  return true;
}

std::string Child::kill_and_collect() {
  ::kill(pid_, SIGKILL);
  std::string out = early_ + drain(fd_);
  status_ = wait_raw(pid_);
  pid_ = -1;
  close(fd_);
  fd_ = -1;
  return out;
}

std::string Child::wait_and_collect(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string out = early_;
  char buf[65536];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    pollfd p{fd_, POLLIN, 0};
    const int ready = left > 0 ? poll(&p, 1, static_cast<int>(left)) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {  // timed out (or poll failed): stop the child, keep what it wrote
      ::kill(pid_, SIGKILL);
      out += drain(fd_);
      break;
    }
    const ssize_t n = read(fd_, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;  // EOF: the child closed its stdout
    }
  }
  status_ = wait_raw(pid_);
  pid_ = -1;
  close(fd_);
  fd_ = -1;
  return out;
}

bool Child::exited_ok() const { return status_ >= 0 && WIFEXITED(status_) && WEXITSTATUS(status_) == 0; }

bool Child::killed_by_sigkill() const { return status_ >= 0 && WIFSIGNALED(status_) && WTERMSIG(status_) == SIGKILL; }

std::string Child::how_it_ended() const {
  if (status_ < 0) return "not collected";
  if (WIFSIGNALED(status_)) return "killed by signal " + std::to_string(WTERMSIG(status_));
  if (WIFEXITED(status_)) return "exited with status " + std::to_string(WEXITSTATUS(status_));
  return "wait status " + std::to_string(status_);
}

}  // namespace babysea::testing
