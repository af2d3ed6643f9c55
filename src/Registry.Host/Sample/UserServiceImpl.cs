using Grpc.Core;

namespace Registry.Host.Sample;

/// <summary>The sample UserService: answers any id with a made-up user and the id of the instance that served it.</summary>
internal sealed class UserServiceImpl(SampleInstance instance) : UserService.UserServiceBase
{
    public override async Task<GetUserInfoResponse> GetUserInfo(GetUserInfoRequest request, ServerCallContext context)
    {
        if (request.Id < 0) throw new RpcException(new Status(StatusCode.InvalidArgument, $"id {request.Id}: expected a non-negative user id"));
        if (request.DelayMs > 0) await Task.Delay(request.DelayMs, context.CancellationToken);
        return new GetUserInfoResponse { Id = request.Id, Name = $"user-{request.Id}", ServedBy = instance.Id };
    }
}

/// <summary>Which registered instance this process serves as.</summary>
internal sealed record SampleInstance(string Id);
