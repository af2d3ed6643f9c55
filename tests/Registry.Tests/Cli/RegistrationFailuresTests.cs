using Registry.Host.Cli;

namespace Registry.Tests.Cli;

/// <summary>What <c>register</c> and <c>serve</c> print, and how they exit, for a registration the registry did not take.</summary>
public sealed class RegistrationFailuresTests
{
    private static readonly ServiceInstance A = CliTestData.Instance("user", "a", "10.0.0.1:80");

    [Fact]
    public void A_refusal_is_about_the_arguments_and_exits_2()
    {
        var failure = new RegistrationFailed(A, RegistrationFailure.Invalid, "ttl 1: below the minimum of 2 s");

        Assert.Equal("register refused: ttl 1: below the minimum of 2 s", failure.Describe());
        Assert.Equal(RegistryCommand.Usage, failure.ExitCode());
    }

    [Fact]
    public void An_error_is_the_registry_s_own_failure_and_exits_1()
    {
        var failure = new RegistrationFailed(A, RegistrationFailure.Error, "the registry failed on Register: boom");

        Assert.Equal("register failed: the registry failed on Register: boom", failure.Describe());
        Assert.Equal(RegistryCommand.Failed, failure.ExitCode());
    }
}
