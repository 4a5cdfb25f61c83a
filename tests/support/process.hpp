// Running child processes from tests (oracles, crash workers).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace babysea::testing {

struct ProcessOutput {
  int exit_code = -1;  // -signal when killed by a signal
  std::string out;
};

// Runs argv[0] (searched in PATH) with the arguments, capturing stdout.
ProcessOutput run_process(const std::vector<std::string>& argv);

// Runs an oracle (e.g. a node script) that prints one flat JSON object of
// string fields per line; returns each line's fields. Throws if the process
// fails or a line is not such an object.
std::vector<std::map<std::string, std::string>> run_json_lines(const std::vector<std::string>& argv);

// A child whose stdout is a pipe, for tests that kill it mid-flight.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  // Waits up to `timeout_ms` until the child has written something; returns
  // whether it did. What was read is kept for kill_and_collect().
  bool wait_for_output(int timeout_ms);
  // Sends SIGKILL, waits, and returns everything the child wrote. The wait
  // status is kept for killed_by_sigkill() / how_it_ended().
  std::string kill_and_collect();
  // Reads until the child closes its stdout (it exited), waits for it and
  // returns everything it wrote; after `timeout_ms` without that, SIGKILLs it
  // first. The wait status is kept as for kill_and_collect().
  std::string wait_and_collect(int timeout_ms);
  int pid() const { return pid_; }
  // After kill_and_collect(): whether the child died of SIGKILL (false when it
  // had exited by itself, or died of another signal, before the kill).
  bool killed_by_sigkill() const;
  // After kill_and_collect() / wait_and_collect(): whether it exited by itself
  // with status 0.
  bool exited_ok() const;
  // After kill_and_collect() / wait_and_collect(): "killed by signal N" or
  // "exited with status N".
  std::string how_it_ended() const;
  // After kill_and_collect() / wait_and_collect(): the raw waitpid() status.
  int wait_status() const { return status_; }

 private:
  int pid_ = -1;
  int fd_ = -1;
  int status_ = -1;
  std::string early_;
};

}  // namespace babysea::testing
