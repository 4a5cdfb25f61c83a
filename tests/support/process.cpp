#include "support/process.hpp"

#include <signal.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

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

int wait_for(int pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

}  // namespace

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
  wait_for(pid_);
  pid_ = -1;
  close(fd_);
  fd_ = -1;
  return out;
}

}  // namespace babysea::testing
