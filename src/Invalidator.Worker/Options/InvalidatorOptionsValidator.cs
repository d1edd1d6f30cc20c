using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Invalidator.Worker.Options;

/// <summary>Checks what data annotations cannot: each message says which key to fix and how.</summary>
internal sealed class InvalidatorOptionsValidator : IValidateOptions<InvalidatorOptions>
{
    public ValidateOptionsResult Validate(string? name, InvalidatorOptions options)
    {
        var failures = new List<string>();
        // Data annotations on nested sections are not checked by ValidateDataAnnotations: walk them here,
        // naming each failure by its configuration path. Only the selected source's section must be complete:
        // a Postgres deployment has no Kafka settings.
        if (options.Source == ChangeSourceKind.Kafka)
        {
            Annotations(options.Kafka, "Invalidator:Kafka", failures);
        }

        Annotations(options.Rules, "Invalidator:Rules", failures);
        Annotations(options.Batching, "Invalidator:Batching", failures);
        Annotations(options.DeadLetter, "Invalidator:DeadLetter", failures);
        Annotations(options.Consistency, "Invalidator:Consistency", failures);
        foreach (var (regionName, region) in options.Regions)
        {
            Annotations(region, $"Invalidator:Regions:{regionName}", failures);
            Annotations(region.Resilience, $"Invalidator:Regions:{regionName}:Resilience", failures);
            Annotations(region.Resilience.CircuitBreaker, $"Invalidator:Regions:{regionName}:Resilience:CircuitBreaker", failures);
        }

        if (options.Source == ChangeSourceKind.Kafka)
        {
            ValidateKafka(options.Kafka, failures);
        }
        else
        {
            PostgresOptionsValidation.Validate(options.Postgres, failures);
            PostgresOptionsValidation.ValidateDeadLetter(options.DeadLetter, failures);
        }

        ConsistencyOptionsValidation.Validate(options.Consistency, options.Source, failures);
        ProbeOptionsValidation.Validate(options.Probe, options.Source, failures);
        ValidateRegions(options.Regions, failures);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Annotations(object section, string path, List<string> failures)
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(section, new ValidationContext(section), results, validateAllProperties: true))
        {
            foreach (var result in results)
            {
                var member = result.MemberNames.FirstOrDefault();
                failures.Add(member is null ? $"{path}: {result.ErrorMessage}" : $"{path}:{member}: {result.ErrorMessage}");
            }
        }
    }

    private static void ValidateKafka(KafkaOptions kafka, List<string> failures)
    {
        var hasTopics = kafka.Topics.Any(t => !string.IsNullOrWhiteSpace(t));
        var hasPattern = !string.IsNullOrWhiteSpace(kafka.TopicPattern);
        if (hasTopics == hasPattern)
        {
            failures.Add("Set exactly one of Invalidator:Kafka:Topics (a list) or Invalidator:Kafka:TopicPattern (a regular expression).");
        }

        if (hasPattern)
        {
            try
            {
                _ = new Regex(kafka.TopicPattern!, RegexOptions.None, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException ex)
            {
                failures.Add($"Invalidator:Kafka:TopicPattern is not a valid regular expression: {ex.Message}");
            }
        }

        // A dead letter counts as durable only when every in-sync replica has it.
        if (kafka.Producer.TryGetValue("acks", out var acks) && acks.Trim() is not ("all" or "-1"))
        {
            failures.Add($"Invalidator:Kafka:Producer:acks is '{acks}': dead letters must be durable, so leave it unset or set it to all.");
        }

        if (kafka.Producer.TryGetValue("enable.idempotence", out var idempotence) && idempotence.Trim() is "false" or "0" or "f")
        {
            failures.Add("Invalidator:Kafka:Producer:enable.idempotence must stay true: a retried dead-letter write must not be duplicated or reordered.");
        }

        // Storing offsets before the deletes are applied would acknowledge work that was never done.
        if (kafka.Consumer.TryGetValue("enable.auto.offset.store", out var store) && IsLibrdkafkaTrue(store))
        {
            failures.Add("Invalidator:Kafka:Consumer:enable.auto.offset.store must stay false: the worker stores an offset only after every region applied the deletes.");
        }
    }

    /// <summary>librdkafka reads "true" and "t" (any case) and "1" as true; bool.TryParse would miss the last two.</summary>
    private static bool IsLibrdkafkaTrue(string? value) =>
        string.Equals(value, "true", StringComparison.OrdinalIgnoreCase)
        || string.Equals(value, "t", StringComparison.OrdinalIgnoreCase)
        || value == "1";

    private static void ValidateRegions(Dictionary<string, RegionOptions> regions, List<string> failures)
    {
        if (regions.Count == 0)
        {
            failures.Add("Configure at least one region: Invalidator:Regions:<name>:Redis = a StackExchange.Redis configuration string (for example localhost:6379).");
        }

        foreach (var (name, region) in regions)
        {
            RegionTargetValidation.Validate(name, region, failures);
            if (string.IsNullOrWhiteSpace(region.Redis))
            {
                failures.Add($"Invalidator:Regions:{name}:Redis is empty: give a StackExchange.Redis configuration string (for example localhost:6379).");
                continue;
            }

            try
            {
                var parsed = ConfigurationOptions.Parse(region.Redis);
                if (parsed.EndPoints.Count == 0)
                {
                    failures.Add($"Invalidator:Regions:{name}:Redis names no endpoint: give host:port (for example localhost:6379).");
                }

                RegionConnectionValidation.Validate(name, region, parsed, failures);
                RegionReplicaWaitValidation.Validate(name, region, parsed, failures);
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or NotSupportedException)
            {
                // The parser's message quotes the piece it choked on, which may be a piece of a password cut at a comma.
                failures.Add(region.Redis.Contains("password=", StringComparison.OrdinalIgnoreCase)
                    ? $"Invalidator:Regions:{name}:Redis is not a valid StackExchange.Redis configuration string (the parser's message is not shown: the string holds a password). " +
                        $"A comma in a password splits the string: move the password to Invalidator:Regions:{name}:Password or :PasswordFile."
                    : $"Invalidator:Regions:{name}:Redis is not a valid StackExchange.Redis configuration string: {ex.Message}");
            }

            if (region.Resilience.MaxDelay < region.Resilience.BaseDelay)
            {
                failures.Add($"Invalidator:Regions:{name}:Resilience:MaxDelay must not be shorter than BaseDelay.");
            }
        }
    }
}
