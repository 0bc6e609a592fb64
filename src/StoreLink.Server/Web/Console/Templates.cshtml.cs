namespace StoreLink.Server.Web.Console;

/// <summary>
/// The organization's workflow templates, read only: states with their staff and customer labels, transitions and the
/// roles that may make them, categories, the card each state sends, customer actions, urgency and reminders, per version.
/// </summary>
public sealed class TemplatesModel(ConsoleStrings strings) : ConsolePage(strings)
{
    public string? Id { get; private set; }

    public override string Script => "templates.js";

    public void OnGet(string? id) => Id = id;
}
