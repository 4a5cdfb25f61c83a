// A small in-test catalog covering every field type (the "Bridge F" analogue).
#pragma once

#include <string>

namespace babysea::testing {

inline const char* kTestProviders = R"({"schema_version":"babysea.providers.v1","providers":[
  {"id":"provider_a","display_name":"A","description":"test provider","website":"https://example.com","docs":"https://example.com/docs","delivery_method":"polling"},{"id":"provider_b","display_name":"B","description":"test provider","website":"https://example.com","docs":"https://example.com/docs","delivery_method":"polling"},
  {"id":"provider_c","display_name":"C","description":"test provider","website":"https://example.com","docs":"https://example.com/docs","delivery_method":"polling"}]})";

inline const char* kTestModels = R"({"schema_version":"babysea.models.v1","models":[
 {"model_identifier":"example/image","model_type":"image",
  "capabilities":{"prompt_max_length":20,"ratios":["1:1","16:9"],"output_formats":["png","jpg"],"max_outputs":2,
                  "input_files":{"min":0,"max":1}},
  "fields":{
    "generation_seed":{"type":"integer","min":0,"max":10},
    "generation_guidance":{"type":"number","min":1.5,"max":5,"default":3},
    "generation_steps":{"type":"number-enum","values":[5,10],"default":5},
    "generation_style":{"type":"string","max_length":8,"pattern":"^[a-z]+$"},
    "generation_mask":{"type":"url"},
    "generation_moderation":{"type":"boolean","default":true}},
  "pricing":{"unit":"generation","credits":"0.005"},
  "providers":["provider_a","provider_b"]},
 {"model_identifier":"example/video","model_type":"video",
  "capabilities":{"ratios":["16:9"],"output_formats":["mp4"],"max_outputs":1,"input_files":{"min":1,"max":1},
                  "last_frame":true,"durations":[5,10],"resolutions":["720p","1080p"],"default_resolution":"720p","audio":true},
  "pricing":{"unit":"second","tiers":{"720p_audio":"0.2","720p_noaudio":"0.1","1080p_audio":"0.4","1080p_noaudio":"0.3"}},
  "providers":["provider_c","provider_a","provider_b"],"default_provider_order":["provider_c"]}
]})";

inline const char* kTestBridges = R"({"schema_version":"babysea.bridges.v1","bridges":[
 {"model_identifier":"example/image","provider":"provider_a","native_model":"a/image","source":"https://docs.example.com/a/image",
  "limits":{"ratios":["1:1","16:9","9:16"],"output_formats":["png","jpg"],"max_outputs":4,"max_input_files":1},
  "payload":{"prompt":{"from":"generation_prompt"},"aspect_ratio":{"from":"generation_ratio"},
    "format":{"from":"generation_output_format"},"n":{"from":"generation_output_number"},
    "image":{"from":"generation_input_file","index":0},"seed":{"from":"generation_seed"},
    "guidance":{"from":"generation_guidance"},"steps":{"from":"generation_steps"},"style":{"from":"generation_style"},
    "mask":{"from":"generation_mask"},"safety_enabled":{"from":"generation_moderation"}}},
 {"model_identifier":"example/image","provider":"provider_b","native_model":"b/image","source":"https://docs.example.com/b/image",
  "limits":{"ratios":["1:1","16:9"],"output_formats":["png","jpg"],"max_outputs":2,"max_input_files":2},
  "payload":{"input":{"object":{"text":{"from":"generation_prompt"},"aspect":{"from":"generation_ratio"},
    "output_format":{"from":"generation_output_format","map":{"jpg":"jpeg"},"map_partial":true},
    "num_outputs":{"from":"generation_output_number"},"image_urls":{"from":"generation_input_file"},
    "seed":{"from":"generation_seed","as":"string"},"cfg":{"from":"generation_guidance","scale":10,"as":"integer"},
    "steps":{"from":"generation_steps","format":"{} steps"},"style":{"from":"generation_style"},
    "mask_url":{"from":"generation_mask"},
    "disable_safety_checker":{"from":"generation_moderation","negate":true},
    "moderation":{"from":"generation_moderation","map":{"true":"enabled","false":"disabled"}},
    "sync_mode":{"const":false}}}}},
 {"model_identifier":"example/video","provider":"provider_c","native_model":"c/video","source":"https://docs.example.com/c/video",
  "limits":{"ratios":["16:9"],"output_formats":["mp4"],"max_input_files":1,"last_frame":true,"durations":[5,10],
            "resolutions":["720p","1080p"],"audio":true},
  "payload":{"content":{"array":[{"object":{"type":{"const":"text"},"text":{"from":"generation_prompt"}}},
      {"object":{"type":{"const":"image_url"},"role":{"const":"first_frame"},"url":{"from":"generation_input_file","index":0}}},
      {"object":{"type":{"const":"image_url"},"role":{"const":"last_frame"},"url":{"from":"generation_input_file_last_content"}}}]},
    "duration_ms":{"from":"generation_duration","scale":1000},"resolution":{"from":"generation_resolution"},
    "audio":{"from":"generation_generate_audio"}}},
 {"model_identifier":"example/video","provider":"provider_a","native_model":"a/video","source":"https://docs.example.com/a/video",
  "limits":{"ratios":["16:9"],"output_formats":["mp4"],"max_input_files":1,"last_frame":true,"durations":[5,10],
            "resolutions":["720p","1080p"],"audio":true},
  "payload":{"prompt":{"from":"generation_prompt"},"image":{"from":"generation_input_file","index":0},
    "last_image":{"from":"generation_input_file_last_content"},"duration":{"from":"generation_duration","format":"{}s"},
    "resolution":{"from":"generation_resolution"},"generate_audio":{"from":"generation_generate_audio"}}},
 {"model_identifier":"example/video","provider":"provider_b","native_model":"b/video","source":"https://docs.example.com/b/video",
  "limits":{"ratios":["16:9"],"output_formats":["mp4"],"max_input_files":1,"last_frame":true,"durations":[5,10],
            "resolutions":["720p","1080p"],"audio":true},
  "payload":{"input":{"object":{"prompt":{"from":"generation_prompt"},"start_image":{"from":"generation_input_file","index":0},
    "end_image":{"from":"generation_input_file_last_content"},"duration":{"from":"generation_duration"},
    "resolution":{"from":"generation_resolution"},"audio":{"from":"generation_generate_audio"}}}}}
]})";

}  // namespace babysea::testing
