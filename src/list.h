/* list.h - an intrusive doubly-linked list: the links live in the struct listed. */
#ifndef ECHOSVC_LIST_H
#define ECHOSVC_LIST_H

#include <stddef.h>

/* Embedded in each struct that is listed; the list is a pointer to the
 * first link (NULL: empty). */
struct list_link {
	struct list_link *prev, *next;
};

/* The struct of type that holds link as its member. */
#define LIST_ITEM(link, type, member) \
	((type *)(void *)((char *)(link) - offsetof(type, member)))

/* Puts link first. */
static inline void list_push(struct list_link **head, struct list_link *link)
{
	link->prev = NULL;
	link->next = *head;
	if (*head != NULL)
		(*head)->prev = link;
	*head = link;
}

/* Takes link out; it must be on the list. */
static inline void list_remove(struct list_link **head, struct list_link *link)
{
	if (link->prev != NULL)
		link->prev->next = link->next;
	else
		*head = link->next;
	if (link->next != NULL)
		link->next->prev = link->prev;
	link->prev = link->next = NULL;
}

#endif
