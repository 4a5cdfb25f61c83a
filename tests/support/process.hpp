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
  // Sends SIGKILL, waits, and returns everything the child wrote.
  std::string kill_and_collect();
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
  int fd_ = -1;
  std::string early_;
};

}  // namespace babysea::testing
