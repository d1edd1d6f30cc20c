using Confluent.Kafka;
using Invalidator.Worker.Options;
using Invalidator.Worker.Sources.Kafka;

namespace Invalidator.Worker.Tests.Sources.Kafka;

/// <summary>The dead-letter producer reaches the brokers the way the consumer does, unless it is given its own way.</summary>
public class DeadLetterProducerSettingsTests
{
    private static KafkaOptions Options(Dictionary<string, string> consumer, Dictionary<string, string> producer) => new()
    {
        BootstrapServers = "broker:9093",
        Consumer = consumer,
        Producer = producer,
    };

    private static readonly Dictionary<string, string> SecureConsumer = new()
    {
        ["security.protocol"] = "SASL_SSL",
        ["sasl.mechanism"] = "SCRAM-SHA-512",
        ["sasl.username"] = "invalidator",
        ["sasl.password"] = "secret",
        ["ssl.ca.location"] = "/etc/kafka/ca.pem",
        ["fetch.wait.max.ms"] = "50",
    };

    [Fact]
    public void Without_its_own_security_settings_the_producer_takes_the_consumers_and_nothing_else_of_them()
    {
        var config = DeadLetterProducerSettings.Build(Options(SecureConsumer, []));

        Assert.Equal("SASL_SSL", config.Get("security.protocol"));
        Assert.Equal("SCRAM-SHA-512", config.Get("sasl.mechanism"));
        Assert.Equal("invalidator", config.SaslUsername);
        Assert.Equal("secret", config.SaslPassword);
        Assert.Equal("/etc/kafka/ca.pem", config.SslCaLocation);
        Assert.DoesNotContain(config, p => p.Key == "fetch.wait.max.ms");
        Assert.Equal(("broker:9093", Acks.All, true), (config.BootstrapServers, config.Acks, config.EnableIdempotence));
    }

    [Fact]
    public void With_any_security_setting_of_its_own_the_producer_takes_none_of_the_consumers()
    {
        var config = DeadLetterProducerSettings.Build(Options(SecureConsumer, new() { ["security.protocol"] = "SSL", ["ssl.ca.location"] = "/other.pem" }));

        Assert.Equal("SSL", config.Get("security.protocol"));
        Assert.Equal("/other.pem", config.SslCaLocation);
        Assert.Null(config.SaslUsername);
        Assert.Null(config.SaslPassword);
    }

    [Fact]
    public void Control_a_consumer_without_security_settings_leaves_the_producer_on_librdkafkas_defaults()
    {
        var config = DeadLetterProducerSettings.Build(Options(new() { ["fetch.wait.max.ms"] = "50" }, []));

        Assert.DoesNotContain(config, p => DeadLetterProducerSettings.IsSecurity(p.Key));
    }

    [Fact]
    public void The_start_check_reaches_the_brokers_as_the_producer_does_and_never_creates_the_topic()
    {
        var check = DeadLetterProducerSettings.BuildCheck(Options(SecureConsumer, new() { ["linger.ms"] = "5" }));

        Assert.Equal("SCRAM-SHA-512", check.Get("sasl.mechanism"));
        Assert.Equal("secret", check.Get("sasl.password"));
        Assert.Equal("false", check.Get("allow.auto.create.topics"));
        Assert.DoesNotContain(check, p => p.Key is "acks" or "enable.idempotence" or "linger.ms");
    }
}
