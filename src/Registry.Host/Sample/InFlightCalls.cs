using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Registry.Host.Sample;

/// <summary>Counts the calls a sample server is running, so its stop can say what it waits for.</summary>
internal sealed class InFlightCalls : Interceptor
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    /// <inheritdoc />
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Interlocked.Increment(ref _count);
        try
        {
            return await continuation(request, context);
        }
        finally
        {
            Interlocked.Decrement(ref _count);
        }
    }
}
