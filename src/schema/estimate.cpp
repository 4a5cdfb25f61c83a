// Cost estimates in integer micro-credits (specs/api.md §3.4).
#include <algorithm>

#include "babysea/schema.hpp"

namespace babysea {

Result<Estimate> estimate(const Model& model, const EstimateParams& params) {
  std::vector<FieldIssue> issues;
  const Capabilities& c = model.capabilities;
  Estimate out;
  out.model_identifier = model.identifier;
  out.model_type = model.type;
  out.assets_count = params.count;
  if (params.count < 1 || params.count > c.max_outputs)
    issues.push_back({"generation_output_number", params.count < 1 ? "min_value" : "max_value",
                      "count must be between 1 and " + std::to_string(c.max_outputs) + "."});

  std::string resolution;
  if (!c.resolutions.empty()) {
    resolution = params.resolution.value_or(c.default_resolution);
    if (std::find(c.resolutions.begin(), c.resolutions.end(), resolution) == c.resolutions.end())
      issues.push_back({"generation_resolution", "unsupported_value",
                        "resolution " + resolution.substr(0, 32) + " is not offered by " + model.identifier + "."});
    out.resolution = resolution;
  } else if (params.resolution) {
    issues.push_back({"generation_resolution", "unsupported_value", model.identifier + " has no resolutions."});
  }
  bool audio = params.audio.value_or(false);
  if (c.audio) out.audio = audio;
  else if (audio)
    issues.push_back({"generation_generate_audio", "unsupported_value", model.identifier + " cannot generate audio."});

  if (model.pricing.unit == PriceUnit::per_second) {
    if (!params.duration_seconds)
      issues.push_back({"generation_duration", "missing_required", "duration is required for per-second pricing."});
    else if (std::find(c.durations.begin(), c.durations.end(), *params.duration_seconds) == c.durations.end())
      issues.push_back({"generation_duration", "unsupported_value",
                        "duration " + std::to_string(*params.duration_seconds) + " is not offered by " +
                            model.identifier + "."});
  } else if (params.duration_seconds && !c.durations.empty() &&
             std::find(c.durations.begin(), c.durations.end(), *params.duration_seconds) == c.durations.end()) {
    issues.push_back({"generation_duration", "unsupported_value", "duration is not offered by this model."});
  }
  if (!issues.empty()) return Status(Code::invalid_request, "estimate parameters are invalid", std::move(issues));

  Micros rate = 0;
  if (model.pricing.flat) {
    rate = *model.pricing.flat;
  } else {
    out.tier = model.tier_key(resolution, audio);
    auto it = model.pricing.tiers.find(out.tier);
    if (it == model.pricing.tiers.end())
      return Status(Code::internal, "catalog has no price for tier " + out.tier + " of " + model.identifier);
    rate = it->second;
  }
  if (model.pricing.unit == PriceUnit::per_second) {
    out.cost_per_second = rate;
    out.duration_seconds = params.duration_seconds;
    BABYSEA_ASSIGN_OR_RETURN(out.cost_per_generation, checked_mul(rate, *params.duration_seconds));
  } else {
    out.cost_per_generation = rate;
    if (params.duration_seconds) out.duration_seconds = params.duration_seconds;
  }
  BABYSEA_ASSIGN_OR_RETURN(out.cost_total, checked_mul(out.cost_per_generation, params.count));
  if (params.balance) {
    out.balance = params.balance;
    out.can_afford = *params.balance >= out.cost_total;
    out.max_affordable = *params.balance <= 0 ? 0 : *params.balance / out.cost_per_generation;
  }
  return out;
}

Result<Estimate> estimate(const NormalizedRequest& request, std::optional<Micros> balance) {
  EstimateParams p;
  p.count = request.output_number();
  p.duration_seconds = request.duration_seconds();
  if (!request.resolution().empty()) p.resolution = std::string(request.resolution());
  if (request.model().capabilities.audio) p.audio = request.generate_audio();
  p.balance = balance;
  return estimate(request.model(), p);
}

}  // namespace babysea
