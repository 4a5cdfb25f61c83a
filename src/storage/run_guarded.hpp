// run_guarded: runs one unit of work for a Store backend, turning an exception
// thrown by the work function into Code::internal (the public API never
// throws; the backend then rolls the unit back like any failed unit).
#pragma once

#include <exception>
#include <string>

#include "babysea/storage.hpp"

namespace babysea::storage_detail {

inline Status run_guarded(Work work, UnitOfWork& unit) {
  try {
    return work(unit);
  } catch (const std::exception& e) {
    return Status(Code::internal, std::string("unit of work threw: ") + e.what());
  } catch (...) {
    return Status(Code::internal, "unit of work threw");
  }
}

}  // namespace babysea::storage_detail
