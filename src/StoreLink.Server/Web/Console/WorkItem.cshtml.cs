namespace StoreLink.Server.Web.Console;

/// <summary>
/// One work item: its fields, state and the moves the caller's role may make, assignee, requests to the customer, the
/// timeline and the way back to the chat. The server decides (<c>transitions</c>, 403s); <c>assets/js/workitem.js</c> shows it.
/// </summary>
public sealed class WorkItemModel(ConsoleStrings strings) : ConsolePage(strings)
{
    public string Id { get; private set; } = "";

    public override string Script => "workitem.js";

    public void OnGet(string id) => Id = id;
}
