namespace Invalidator.Worker.Tests;

/// <summary>The JSON the hand-written <c>Utf8JsonWriter</c> reports wrote, captured before they became serialized records: the contract.</summary>
internal static class Golden
{
    /// <summary><c>replay --json</c>, every field filled.</summary>
    public const string ReplayFull = """
        {
          "since": "2026-03-01T12:00:00+00:00",
          "until": "2026-03-01T13:30:15.25+00:00",
          "topics": [
            "db.public.customers",
            "db.public.\u0022odd\u0022 \u003Ctopic\u003E"
          ],
          "ranges": [
            {
              "partition": "db.public.customers[0]",
              "from": 10,
              "to": 20
            },
            {
              "partition": "db.public.customers[2]",
              "from": 0,
              "to": 5
            }
          ],
          "table": "public.customers",
          "regions": [
            "east",
            "west"
          ],
          "dryRun": false,
          "rulesVersion": "sha256:ab12",
          "records": 4,
          "outcomes": {
            "invalidated": 2,
            "no_rule": 1,
            "poison": 1
          },
          "keys": 12,
          "tags": 3,
          "batches": 2,
          "regionLetters": {
            "east": 2,
            "west": 1
          },
          "seconds": 1.235
        }
        """;

    /// <summary><c>replay --json</c>: no --until, no table, nothing read.</summary>
    public const string ReplayEmpty = """
        {
          "since": "2026-03-01T12:00:00+02:00",
          "until": null,
          "topics": [],
          "ranges": [],
          "table": null,
          "regions": [
            "east"
          ],
          "dryRun": true,
          "rulesVersion": "v1",
          "records": 0,
          "outcomes": {},
          "keys": 0,
          "tags": 0,
          "batches": 0,
          "regionLetters": {},
          "seconds": 0
        }
        """;

    /// <summary><c>audit --json</c>: one region with uncovered shapes, one empty.</summary>
    public const string Audit = """
        {
          "rules": "rules.yaml",
          "placeholders": "segment",
          "covered": false,
          "uncoveredKeys": 4,
          "uncoveredWithoutTtl": 2,
          "uncoveredShapes": 2,
          "regions": [
            {
              "region": "east",
              "keyPrefix": "app:",
              "nodes": [
                "127.0.0.1:6379"
              ],
              "sampled": false,
              "scanned": 9,
              "seconds": 1.235,
              "covered": {
                "byTemplate": 4,
                "byTagSet": 1,
                "tagSets": 1,
                "tagMembersRead": 2
              },
              "coveredBy": {
                "(lease keys of covered keys)": 1,
                "customer:{id}": 4
              },
              "vanished": 1,
              "uncovered": {
                "keys": 4,
                "withoutTtl": 2,
                "shapes": [
                  {
                    "shape": "orders:{#}",
                    "keys": 3,
                    "withoutTtl": 1,
                    "minTtlSeconds": 1.5,
                    "maxTtlSeconds": 90.123,
                    "examples": [
                      {
                        "key": "orders:17",
                        "ttlSeconds": 90.123
                      },
                      {
                        "key": "orders:18",
                        "ttlSeconds": 1.5
                      },
                      {
                        "key": "orders:19",
                        "ttlSeconds": null
                      }
                    ]
                  },
                  {
                    "shape": "stray\u0022key\u003C\u00E9\u003E",
                    "keys": 1,
                    "withoutTtl": 1,
                    "minTtlSeconds": null,
                    "maxTtlSeconds": null,
                    "examples": [
                      {
                        "key": "stray\u0022key\u003C\u00E9\u003E",
                        "ttlSeconds": null
                      }
                    ]
                  }
                ]
              }
            },
            {
              "region": "west",
              "keyPrefix": "",
              "nodes": [
                "10.0.0.1:7001",
                "10.0.0.2:7002"
              ],
              "sampled": true,
              "scanned": 0,
              "seconds": 0,
              "covered": {
                "byTemplate": 0,
                "byTagSet": 0,
                "tagSets": 0,
                "tagMembersRead": 0
              },
              "coveredBy": {},
              "vanished": 0,
              "uncovered": {
                "keys": 0,
                "withoutTtl": 0,
                "shapes": []
              }
            }
          ]
        }
        """;

    /// <summary><c>rules diff --json</c>.</summary>
    public const string Diff = """
        {
          "old": "old.yaml",
          "new": "new.yaml",
          "source": "records.jsonl",
          "records": 3,
          "differing": 2,
          "differences": [
            {
              "record": "records.jsonl:1",
              "topic": "db.public.customers",
              "table": "public.customers",
              "old": {
                "outcome": "Invalidate",
                "poison": null,
                "keys": 2,
                "tags": 1
              },
              "new": {
                "outcome": "Invalidate",
                "poison": null,
                "keys": 2,
                "tags": 0
              },
              "keys": {
                "appearing": [
                  "customer:1:v2"
                ],
                "vanishing": [
                  "customer:1:v1"
                ]
              },
              "tags": {
                "appearing": [],
                "vanishing": [
                  "t1"
                ]
              }
            },
            {
              "record": "records.jsonl:3",
              "topic": "db.public.orders",
              "table": null,
              "old": {
                "outcome": "NoRule",
                "poison": null,
                "keys": 0,
                "tags": 0
              },
              "new": {
                "outcome": "Poison",
                "poison": "no \u0022id\u0022 column",
                "keys": 0,
                "tags": 0
              },
              "keys": {
                "appearing": [],
                "vanishing": []
              },
              "tags": {
                "appearing": [],
                "vanishing": []
              }
            }
          ],
          "tables": [
            {
              "table": "(topic db.heartbeat)",
              "records": 1,
              "differing": 0,
              "keysAppearing": 0,
              "keysVanishing": 0,
              "tagsAppearing": 0,
              "tagsVanishing": 0
            },
            {
              "table": "(topic db.public.orders)",
              "records": 1,
              "differing": 1,
              "keysAppearing": 0,
              "keysVanishing": 0,
              "tagsAppearing": 0,
              "tagsVanishing": 0
            },
            {
              "table": "public.customers",
              "records": 1,
              "differing": 1,
              "keysAppearing": 1,
              "keysVanishing": 1,
              "tagsAppearing": 0,
              "tagsVanishing": 1
            }
          ]
        }
        """;

    /// <summary>A poison change's dead-letter row.</summary>
    public const string Change = """
        {"table":"public.customers","op":"u","lsn":"0/16B3748","commitTime":"2026-03-01T12:00:00.123+00:00","before":{"id":"7","name":"Zo\u00EB \u0022\u003Cb\u003E\u0022","note":null},"after":{"id":"7","name":"Zoe"},"key":null}
        """;

    /// <summary>A change without commit time or images.</summary>
    public const string ChangeBare = """
        {"table":"public.t","op":"d","lsn":"7","before":null,"after":null,"key":null}
        """;

    /// <summary>A raw record's dead-letter row (direct mode's table).</summary>
    public const string Raw = """
        {"topic":"db.public.t","key":"AQL6","value":"e30="}
        """;

    /// <summary>A raw record without key or value.</summary>
    public const string RawNull = """
        {"topic":"db.public.t","key":null,"value":null}
        """;

    /// <summary>A region letter (the topic's record value, the table's payload).</summary>
    public const string RegionLetter = """
        {"kind":"region","letter":{"region":"east","keys":["customer:7","k\u0022\u003C\u00E9\u003E"],"tags":["t1"],"reason":"timeout after 3 attempts","attempts":3,"sources":[{"source":"db.public.customers","partition":2,"from":10,"to":12}],"failedAt":"2026-03-01T12:00:00.005+01:00"}}
        """;

    /// <summary>A region's poison letter.</summary>
    public const string RegionPoison = """
        {"kind":"poison","letter":{"region":"east","keys":["customer:7","k\u0022\u003C\u00E9\u003E"],"tags":["t1"],"reason":"timeout after 3 attempts","attempts":3,"sources":[{"source":"db.public.customers","partition":2,"from":10,"to":12}],"failedAt":"2026-03-01T12:00:00.005+01:00"}}
        """;

    /// <summary><c>explain</c> of an update: every field, unresolved templates.</summary>
    public const string ExplainUpdate = """
        {
          "topic": "shop.inventory.products",
          "kind": "Change",
          "table": "inventory.products",
          "op": "u",
          "commitTime": "2020-07-29T08:21:29.629+00:00",
          "outcome": "Invalidate",
          "shadow": false,
          "leases": true,
          "secondDelete": "800ms",
          "rulesVersion": "5383a5717364",
          "keys": [
            "product:106",
            "product:name:HAMMER"
          ],
          "tags": [
            "product-description:16oz \u0022\u003Cb\u003E\u0022",
            "product-description:18oz"
          ],
          "unresolved": [
            {
              "template": "product:sku:{sku}",
              "image": "before",
              "column": "sku",
              "failure": "MissingColumn",
              "reason": "the image has no column \u0027sku\u0027"
            },
            {
              "template": "product:sku:{sku}",
              "image": "after",
              "column": "sku",
              "failure": "MissingColumn",
              "reason": "the image has no column \u0027sku\u0027"
            }
          ]
        }

        """;

    /// <summary><c>explain</c> of a tombstone.</summary>
    public const string ExplainTombstone = """
        {
          "topic": "shop.inventory.products",
          "kind": "Tombstone",
          "table": "inventory.products",
          "op": "d",
          "outcome": "Invalidate",
          "shadow": false,
          "leases": true,
          "secondDelete": "800ms",
          "rulesVersion": "5383a5717364",
          "keys": [
            "product:106"
          ],
          "tags": [],
          "unresolved": [
            {
              "template": "product:name:{name|upper}",
              "image": "key",
              "column": "name",
              "failure": "MissingColumn",
              "reason": "the image has no column \u0027name\u0027"
            },
            {
              "template": "product:sku:{sku}",
              "image": "key",
              "column": "sku",
              "failure": "MissingColumn",
              "reason": "the image has no column \u0027sku\u0027"
            },
            {
              "template": "product-description:{description}",
              "image": "key",
              "column": "description",
              "failure": "MissingColumn",
              "reason": "the image has no column \u0027description\u0027"
            }
          ]
        }

        """;

    /// <summary><c>explain</c> of a change of a table without a rule.</summary>
    public const string ExplainOtherTable = """
        {
          "topic": "shop.inventory.orders",
          "kind": "Change",
          "table": "inventory.orders",
          "op": "c",
          "outcome": "NoRule",
          "shadow": false,
          "leases": false,
          "secondDelete": null,
          "rulesVersion": "5383a5717364",
          "keys": [],
          "tags": [],
          "unresolved": []
        }

        """;

    /// <summary><c>explain</c> of a record that is no change: the change's fields left out.</summary>
    public const string ExplainTransaction = """
        {
          "topic": "shop.transaction",
          "kind": "TransactionMetadata",
          "outcome": "NothingToInvalidate",
          "shadow": false,
          "leases": false,
          "secondDelete": null,
          "rulesVersion": "5383a5717364",
          "keys": [],
          "tags": [],
          "unresolved": []
        }

        """;
}
